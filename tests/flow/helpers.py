"""A guard context for tests: a State, a set of done steps, tool counts, the errors reported."""

from __future__ import annotations

from livehandle import Guard, State


class Ctx:
    """What a guard reads, built by hand."""

    def __init__(
        self,
        state: State | None = None,
        done: set[str] | None = None,
        ok: dict[str, int] | None = None,
    ) -> None:
        self.state = State() if state is None else state
        self.done = set() if done is None else done
        self.ok = {} if ok is None else ok
        self.errors: list[tuple[Guard, Exception]] = []

    def is_done(self, step: str) -> bool:
        return step in self.done

    def tool_ok(self, tool: str) -> int:
        return self.ok.get(tool, 0)

    def guard_failed(self, guard: Guard, error: Exception) -> None:
        self.errors.append((guard, error))


def state_with(**values: object) -> State:
    state = State()
    for key, value in values.items():
        state.set(key, value)
    return state
