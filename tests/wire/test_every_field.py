"""Every field of wire-protocol.md §2 and §3 decodes from its wire name.

Samples below spell each message as the spec does, with every field filled in at least once.  The
test walks the decoded objects and checks that every field of every message class was populated by
some sample, so a field the codec cannot read (or one the spec has and the classes lack) fails here.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import attrs

from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, decode_server, encode_client, encode_server

B64 = "AAECAw=="
USAGE = {
    "promptTokenCount": 1210,
    "cachedContentTokenCount": 0,
    "responseTokenCount": 96,
    "toolUsePromptTokenCount": 0,
    "thoughtsTokenCount": 0,
    "totalTokenCount": 1306,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 410}],
    "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 0}],
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 96}],
    "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 0}],
    "trafficType": "ON_DEMAND",
    "serviceTier": "STANDARD",
}
DECL = {
    "name": "book_table",
    "description": "Book a table",
    "parameters": {"type": "OBJECT", "properties": {"when": {"type": "STRING"}}},
    "parametersJsonSchema": {"type": "object"},
    "response": {"type": "OBJECT"},
    "responseJsonSchema": {"type": "string"},
    "behavior": "NON_BLOCKING",
}
CONTENT = {
    "role": "user",
    "parts": [
        {"text": "hi", "thought": True, "thoughtSignature": B64},
        {"inlineData": {"mimeType": "image/jpeg", "data": B64, "displayName": "frame"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/x.png", "displayName": "x"}},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
    ],
}
CLIENT_SAMPLES: list[dict[str, Any]] = [
    {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {
                    "voiceConfig": {
                        "prebuiltVoiceConfig": {"voiceName": "Kore"},
                        "replicatedVoiceConfig": {"mimeType": "audio/wav", "voiceSampleAudio": B64},
                    },
                    "languageCode": "de-DE",
                },
                "thinkingConfig": {
                    "thinkingBudget": 0,
                    "includeThoughts": True,
                    "thinkingLevel": "MINIMAL",
                },
                "temperature": 0.7,
                "topP": 0.9,
                "topK": 40,
                "maxOutputTokens": 512,
                "seed": 7,
                "candidateCount": 1,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.2,
                "mediaResolution": "MEDIA_RESOLUTION_LOW",
                "enableAffectiveDialog": True,
                "translationConfig": {"targetLanguageCode": "en", "echoTargetLanguage": False},
            },
            "systemInstruction": CONTENT,
            "tools": [
                {"functionDeclarations": [DECL]},
                {"googleSearch": {}},
                {"codeExecution": {}},
                {"urlContext": {}},
                {"googleMaps": {}},
            ],
            "realtimeInputConfig": {
                "automaticActivityDetection": {
                    "disabled": False,
                    "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
                    "endOfSpeechSensitivity": "END_SENSITIVITY_HIGH",
                    "prefixPaddingMs": 20,
                    "silenceDurationMs": 700,
                },
                "activityHandling": "NO_INTERRUPTION",
                "turnCoverage": "TURN_INCLUDES_ALL_INPUT",
                "interimTranscriptTimestampEnabled": True,
            },
            "sessionResumption": {"handle": "h1", "transparent": True},
            "contextWindowCompression": {
                "triggerTokens": "25000",
                "slidingWindow": {"targetTokens": "8000"},
            },
            "inputAudioTranscription": {
                "languageCodes": ["en-US"],
                "customVocabulary": ["livehandle"],
                "wordTimestamp": True,
                "diarization": True,
                "mode": "VERBATIM",
                "sourceText": "livehandle",
            },
            "outputAudioTranscription": {},
            "proactivity": {"proactiveAudio": True, "proactiveVideo": False},
            "historyConfig": {"initialHistoryInClientContent": True},
            "explicitVadSignal": True,
            "avatarConfig": {"avatarName": "x"},
            "safetySettings": [
                {
                    "category": "HARM_CATEGORY_HARASSMENT",
                    "threshold": "BLOCK_NONE",
                    "method": "SEVERITY",
                }
            ],
        }
    },
    {"clientContent": {"turns": [CONTENT], "turnComplete": True}},
    {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": B64}}},
    {"realtimeInput": {"video": {"mimeType": "image/jpeg", "data": B64}}},
    {"realtimeInput": {"text": "hello"}},
    {"realtimeInput": {"activityStart": {}}},
    {"realtimeInput": {"activityEnd": {}}},
    {"realtimeInput": {"audioStreamEnd": True}},
    {"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": B64}]}},
    {
        "toolResponse": {
            "functionResponses": [
                {
                    "id": "fc-1",
                    "name": "book_table",
                    "response": {"output": {"status": "booked"}},
                    "scheduling": "WHEN_IDLE",
                    "willContinue": False,
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": B64}},
                        {"fileData": {"fileUri": "gs://b/chart.png", "mimeType": "image/png"}},
                    ],
                }
            ]
        }
    },
    {
        "contextUpdate": {
            "systemInstruction": {"parts": [{"text": "Be concise."}]},
            "tools": {"tools": [{"functionDeclarations": [DECL]}]},
        }
    },
]
SERVER_SAMPLES: list[dict[str, Any]] = [
    {
        "setupComplete": {"sessionId": "s-1", "voiceConsentSignature": {"signature": "sig"}},
        "usageMetadata": USAGE,
    },
    {
        "serverContent": {
            "modelTurn": CONTENT,
            "generationComplete": True,
            "turnComplete": True,
            "interrupted": False,
            "inputTranscription": {
                "text": "hi",
                "finished": True,
                "words": [{"word": "hi", "startOffset": "0.100s", "endOffset": "0.350s"}],
                "startOffset": "0.100s",
                "endOffset": "0.350s",
            },
            "outputTranscription": {"text": "hello", "languageCode": "en", "speakerLabel": "1"},
            "interimInputTranscription": {"text": "h"},
            "groundingMetadata": {
                "webSearchQueries": ["weather"],
                "groundingChunks": [{"web": {"uri": "https://example.com", "title": "Example"}}],
                "groundingSupports": [{"segment": {"text": "x"}}],
                "searchEntryPoint": {"renderedContent": "<div/>"},
            },
            "urlContextMetadata": {"urlMetadata": []},
            "turnCompleteReason": "NEED_MORE_INPUT",
            "waitingForInput": True,
            "interactionStatus": "IDLE",
        },
        "usageMetadata": USAGE,
    },
    {
        "toolCall": {
            "functionCalls": [
                {
                    "id": "fc-1",
                    "name": "get_weather",
                    "args": {"city": "Paris"},
                    "partialArgs": [{"jsonPath": "$.city"}],
                    "willContinue": False,
                }
            ]
        },
        "usageMetadata": USAGE,
    },
    {"toolCallCancellation": {"ids": ["fc-1"]}, "usageMetadata": USAGE},
    {"goAway": {"timeLeft": "50s"}, "usageMetadata": USAGE},
    {
        "sessionResumptionUpdate": {
            "newHandle": "h2",
            "resumable": True,
            "lastConsumedClientMessageIndex": "41",
        },
        "usageMetadata": USAGE,
    },
    {"voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "1.250s"}, "usageMetadata": USAGE},
    {
        "voiceActivityDetectionSignal": {"vadSignalType": "VAD_SIGNAL_TYPE_SOS"},
        "usageMetadata": USAGE,
    },
    {"usageMetadata": USAGE},
    {"somethingNew": {"x": 1}},
]


def _all_fields() -> set[tuple[str, str]]:
    fields = set()
    for _, cls in inspect.getmembers(m, inspect.isclass):
        if attrs.has(cls):
            # ``extra`` holds unknown members; test_codec_rules and test_proto3 cover it.
            fields |= {(cls.__name__, f.name) for f in attrs.fields(cls) if f.name != m.EXTRA}
    return fields


def _seen(obj: Any, into: set[tuple[str, str]]) -> None:
    if attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            if value is not None:
                into.add((type(obj).__name__, field.name))
                _seen(value, into)
    elif isinstance(obj, tuple):
        for item in obj:
            _seen(item, into)


def test_every_field_of_every_class_is_read_from_its_wire_name() -> None:
    seen: set[tuple[str, str]] = set()
    for sample in CLIENT_SAMPLES:
        _seen(decode_client(json.dumps(sample)), seen)
    for sample in SERVER_SAMPLES:
        _seen(decode_server(json.dumps(sample)), seen)
    assert _all_fields() - seen == set()


def test_every_sample_reencodes_to_the_same_json() -> None:
    for sample in CLIENT_SAMPLES:
        assert json.loads(encode_client(decode_client(json.dumps(sample)))) == sample
    for sample in SERVER_SAMPLES:
        assert json.loads(encode_server(decode_server(json.dumps(sample)))) == sample


def test_vertex_usage_field_names_decode_into_response_fields() -> None:
    msg = decode_server(
        json.dumps(
            {
                "serverContent": {"turnComplete": True},
                "usageMetadata": {
                    "candidatesTokenCount": 96,
                    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 96}],
                    "trafficType": "PROVISIONED_THROUGHPUT",
                },
            }
        )
    )
    assert msg.usage_metadata == m.UsageMetadata(
        response_token_count=96,
        response_tokens_details=(m.ModalityTokenCount("AUDIO", 96),),
        traffic_type="PROVISIONED_THROUGHPUT",
    )
