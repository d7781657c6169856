"""Tool declarations: @tool functions, their JSON schemas and result conversion."""
