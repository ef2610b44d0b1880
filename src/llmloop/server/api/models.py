"""Model providers and the models they serve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from llmloop.providers.base import ChatResponse, Message, ModelInfo
from llmloop.server.deps import Editor, RuntimeDep, Viewer

router = APIRouter(tags=["models"])


class ModelListing(BaseModel):
    providers: list[str]
    default_chat_model: str
    default_embedding_model: str
    models: list[ModelInfo]


@router.get("/models", summary="Known providers and the models they list.")
async def list_models(_: Viewer, runtime: RuntimeDep) -> ModelListing:
    return ModelListing(
        providers=runtime.providers.names(),
        default_chat_model=runtime.settings.default_chat_model,
        default_embedding_model=runtime.settings.default_embedding_model,
        models=await runtime.providers.list_all_models(),
    )


class ChatBody(BaseModel):
    model: str = Field(min_length=3, examples=["local/ticket-assistant", "openai/gpt-4o-mini"])
    messages: list[Message] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens, …")


class EmbedBody(BaseModel):
    model: str = Field(min_length=3, examples=["local/embed"])
    input: list[str] = Field(min_length=1, max_length=2048)


class Embeddings(BaseModel):
    model: str
    vectors: list[list[float]]


@router.post("/models/chat", summary="Call a model once (a playground call; costs apply).")
async def chat(body: ChatBody, _: Editor, runtime: RuntimeDep) -> ChatResponse:
    return await runtime.providers.chat(body.model, body.messages, **body.params)


@router.post("/models/embed", summary="Embed texts with a model.")
async def embed(body: EmbedBody, _: Viewer, runtime: RuntimeDep) -> Embeddings:
    response = await runtime.providers.embed(body.model, body.input)
    return Embeddings(model=response.model, vectors=response.vectors)
