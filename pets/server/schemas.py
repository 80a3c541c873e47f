"""Request bodies of the HTTP API, validated strictly (a float or a string is never taken
for a token id) and turned into token id sequences."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from pets.errors import InvalidQueryError
from pets.serving.dispatch import tokenize

MAX_INPUTS = 2048  # sequences per request
MAX_TEXT_CHARS = 100_000  # characters per text (far beyond any model's longest sequence)


class ClassifyRequest(BaseModel):
    """`{"task": NAME, "text": STR | [STR]}` or `{"task": NAME, "input_ids": [[INT]]}`."""

    model_config = ConfigDict(extra="forbid")
    task: StrictStr
    text: Union[StrictStr, list[StrictStr], None] = None
    input_ids: Union[list[list[StrictInt]], None] = None

    def sequences(self) -> list[tuple[int, ...]]:
        if (self.text is None) == (self.input_ids is None):
            raise InvalidQueryError('send either "text" (a string or a list of strings) or '
                                    '"input_ids" (a list of token id lists), not both or neither')
        if self.input_ids is not None:
            return _checked([tuple(seq) for seq in self.input_ids])
        return tokenized(self.text)


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings body: `model` names the task; `input` is text, a list of texts,
    a list of token ids or a list of token id lists."""

    model_config = ConfigDict(extra="ignore")  # OpenAI clients may send "user" and friends
    model: StrictStr
    input: Union[StrictStr, list[StrictStr], list[StrictInt], list[list[StrictInt]]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Union[StrictInt, None] = None

    def sequences(self) -> list[tuple[int, ...]]:
        data = self.input
        if isinstance(data, str) or data and all(isinstance(x, str) for x in data):
            return tokenized(data)
        if data and all(isinstance(x, int) for x in data):
            return _checked([tuple(data)])
        return _checked([tuple(seq) for seq in data])


class TaskBody(BaseModel):
    """`POST /v1/tasks` as JSON: a TaskSpec, optionally with label names."""

    model_config = ConfigDict(extra="forbid")
    spec: dict
    label_names: Union[list[StrictStr], None] = None


def tokenized(text: str | list[str]) -> list[tuple[int, ...]]:
    texts = [text] if isinstance(text, str) else list(text)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise InvalidQueryError(f"text {empty[0]} is empty; send some words to classify or embed")
    long = [i for i, t in enumerate(texts) if len(t) > MAX_TEXT_CHARS]
    if long:
        raise InvalidQueryError(f"text {long[0]} has {len(texts[long[0]])} characters; send at "
                                f"most {MAX_TEXT_CHARS} (the model reads a few hundred tokens)")
    return _checked([tokenize(t) for t in texts] if len(texts) <= MAX_INPUTS else texts)


def _checked(seqs: list) -> list[tuple[int, ...]]:
    if not seqs:
        raise InvalidQueryError("no inputs: send at least one text or token id list")
    if len(seqs) > MAX_INPUTS:
        raise InvalidQueryError(f"{len(seqs)} inputs in one request; send at most {MAX_INPUTS} "
                                "and split the rest over more requests")
    empty = [i for i, s in enumerate(seqs) if not s]
    if empty:
        raise InvalidQueryError(f"input {empty[0]} has no token ids; send at least one")
    return seqs
