/**
 * The chat page's script, a browser-ready module with no dependencies: it keeps the dialog,
 * sends it whole to `POST /v1/chat/completions` with `stream: true` (the server's prompt cache
 * makes resending cheap), shows the answer as its server-sent events arrive, and stops it with
 * an `AbortController`. Text is decoded with a streaming `TextDecoder`, so a character split
 * between network reads (an emoji) appears whole.
 *
 * Each assistant message carries `data-state`: `streaming`, then `done`, `stopped` or `error`.
 *
 * @example
 * ```ts
 * // Served by `llama serve` as /chat.js and loaded by the page:
 * // <script type="module" src="/chat.js"></script>
 * ```
 *
 * @module
 */

/** @type {{ role: string, content: string }[]} The dialog so far (without the system prompt). */
const dialog = [];
/** @type {AbortController | null} The answer being generated. */
let running = null;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const messages = byId("messages");
const input = /** @type {HTMLTextAreaElement} */ (byId("input"));
const sendButton = /** @type {HTMLButtonElement} */ (byId("send"));
const stopButton = /** @type {HTMLButtonElement} */ (byId("stop"));
const speed = byId("speed");

/** Request headers, with the API key when one is set. */
function headers() {
  const key = /** @type {HTMLInputElement} */ (byId("api-key")).value.trim();
  return {
    "content-type": "application/json",
    ...(key ? { authorization: `Bearer ${key}` } : {}),
  };
}

/**
 * Adds a message bubble.
 *
 * @param {string} role "user", "assistant" or "error"
 * @param {string} text its text
 * @returns {{ element: HTMLElement, text: Text }} the bubble and its text node
 */
function addMessage(role, text) {
  const element = document.createElement("div");
  element.className = `message ${role}`;
  const node = document.createTextNode(text);
  element.append(node);
  messages.append(element);
  messages.scrollTop = messages.scrollHeight;
  return { element, text: node };
}

/**
 * The `data:` payloads of a server-sent event stream.
 *
 * @param {ReadableStream<Uint8Array>} body the response body
 * @returns {AsyncGenerator<string>} each event's data
 */
async function* eventData(body) {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (line.startsWith("data: ")) yield line.slice(6);
      }
    }
  }
}

/** Puts the buttons in the running or idle state. */
function setRunning(controller) {
  running = controller;
  sendButton.disabled = controller !== null;
  stopButton.disabled = controller === null;
}

/**
 * Sends the dialog plus a new user message and streams the answer in.
 *
 * @param {string} text the user's message
 */
async function send(text) {
  dialog.push({ role: "user", content: text });
  addMessage("user", text);
  const answer = addMessage("assistant", "");
  answer.element.classList.add("streaming");
  answer.element.dataset.state = "streaming";
  const controller = new AbortController();
  setRunning(controller);
  const system = /** @type {HTMLTextAreaElement} */ (byId("system")).value.trim();
  const body = {
    messages: [...(system ? [{ role: "system", content: system }] : []), ...dialog],
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number(/** @type {HTMLInputElement} */ (byId("temperature")).value),
    max_tokens: Number(/** @type {HTMLInputElement} */ (byId("max-tokens")).value),
  };
  let content = "", pieces = 0, tokens = 0, firstAt = 0, state = "done";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok || !response.body) {
      const error = await response.json().catch(() => ({}));
      throw new Error(error.error?.message ?? `the server answered ${response.status}`);
    }
    for await (const data of eventData(response.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      const piece = chunk.choices?.[0]?.delta?.content;
      if (piece) {
        if (pieces++ === 0) firstAt = performance.now();
        content += piece;
        answer.text.data = content;
        messages.scrollTop = messages.scrollHeight;
      }
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  } catch (error) {
    if (controller.signal.aborted) {
      state = "stopped";
    } else {
      state = "error";
      answer.element.classList.add("error");
      answer.text.data = content + (content ? "\n" : "") + String(error.message ?? error);
    }
  } finally {
    const seconds = (performance.now() - firstAt) / 1000;
    const count = tokens || pieces; // one piece per token, unless the usage chunk says
    if (count > 1 && seconds > 0) {
      speed.textContent = `last answer: ${count} tokens, ${
        ((count - 1) / seconds).toFixed(1)
      } tokens/s`;
    }
    if (state === "stopped") {
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = "stopped";
      answer.element.append(note);
    }
    answer.element.classList.remove("streaming");
    answer.element.dataset.state = state;
    if (state !== "error") dialog.push({ role: "assistant", content });
    else dialog.pop(); // the message was not answered: let the user send it again
    setRunning(null);
  }
}

byId("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (text === "" || running) return;
  input.value = "";
  send(text);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    byId("composer").requestSubmit();
  }
});

stopButton.addEventListener("click", () => running?.abort());

byId("clear").addEventListener("click", () => {
  running?.abort();
  dialog.length = 0;
  messages.replaceChildren();
  speed.textContent = "";
});

fetch("/v1/models", { headers: headers() })
  .then((response) => response.ok ? response.json() : null)
  .then((list) => {
    if (list?.data?.[0]) byId("model").textContent = list.data[0].id;
  })
  .catch(() => {});
