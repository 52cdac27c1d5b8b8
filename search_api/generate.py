"""Optional generative answerer (off by default): any OpenAI-compatible chat endpoint (llama.cpp server,
vLLM, Ollama) is prompted with the numbered passages; its output is kept only sentence by sentence where a
sentence cites at least one of those passages."""

from __future__ import annotations

import re

import httpx

SYSTEM = ("You answer questions about the World Summit on the Information Society using ONLY the numbered "
          "passages given. Write 2 to 5 short sentences. End every sentence with the number of the passage it "
          "comes from in square brackets, like [2]. If the passages do not answer the question, say so.")
_CITE = re.compile(r"\[(\d{1,2})\]")
_SENT = re.compile(r"[^.!?]+(?:[.!?]+(?:\s*\[\d{1,2}\])*|$)")


class GenerationError(Exception):
    pass


class ChatAnswerer:
    def __init__(self, base_url: str, model: str, api_key: str = "", timeout_s: float = 30.0, max_passages: int = 6):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout_s
        self.max_passages = max_passages

    def prompt(self, question: str, cards: list[dict]) -> list[dict]:
        numbered = "\n\n".join(f"[{i}] {c['title']}: {c['text']}" for i, c in enumerate(cards[:self.max_passages], 1))
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}"}]

    def answer(self, question: str, cards: list[dict]) -> list[dict]:
        """Answer sentences with citations (passage ids). Raises GenerationError when the endpoint fails."""
        body = {"model": self.model, "messages": self.prompt(question, cards), "temperature": 0, "max_tokens": 400}
        try:
            r = httpx.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
            r.raise_for_status()
            text = r.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise GenerationError(f"{type(exc).__name__}: {exc}") from exc
        return check_citations(text, cards[:self.max_passages])


def check_citations(text: str, cards: list[dict]) -> list[dict]:
    """Keep the sentences that cite at least one valid passage number; map numbers to passage ids."""
    out = []
    for m in _SENT.finditer(text or ""):
        sent = m.group(0).strip()
        nums = [int(n) for n in _CITE.findall(sent)]
        valid = [cards[n - 1]["passage_id"] for n in nums if 1 <= n <= len(cards)]
        clean = _CITE.sub("", sent).strip()
        clean = re.sub(r"\s+([.!?])", r"\1", clean)
        if valid and len(clean.split()) >= 3:
            out.append({"text": clean, "citations": list(dict.fromkeys(valid))})
    return out[:5]
