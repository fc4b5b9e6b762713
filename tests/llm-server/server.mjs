// A small OpenAI-compatible chat server on node-llama-cpp, for Candor's tests:
// POST /v1/chat/completions (plain and `stream: true`), GET /v1/models.
// Usage: node server.mjs <model.gguf> <port> (0: any free port); LLM_THREADS sets the
// threads (default 1). Prints `listening on <host:port>`, then one line per request:
// `completed <id>` or `cancelled <id>` (the client went away mid-answer).
import http from "node:http";
import { getLlama, LlamaChatSession } from "node-llama-cpp";

const [modelPath, port = "8091"] = process.argv.slice(2);
if (!modelPath) {
  console.error("usage: node server.mjs <model.gguf> <port>");
  process.exit(2);
}
const threads = Number(process.env.LLM_THREADS ?? 1);
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 4096, threads, sequences: 1 });
const name = modelPath.split("/").pop().replace(/\.gguf$/, "");

// One generation at a time: the context has one sequence.
let queue = Promise.resolve();
function serialised(job) {
  const run = queue.then(job, job);
  queue = run.catch(() => {});
  return run;
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

function fail(res, status, message) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message } }));
}

async function complete(req, res) {
  let request;
  try {
    request = JSON.parse(await body(req));
  } catch (e) {
    return fail(res, 400, `body is not JSON: ${e.message}`);
  }
  const messages = Array.isArray(request.messages) ? request.messages : [];
  const last = messages.at(-1);
  if (!last || last.role !== "user" || typeof last.content !== "string") {
    return fail(res, 400, "the last message must be a user message with string content");
  }
  // Earlier turns (few-shot examples, a conversation) become the chat history.
  const history = [];
  for (const m of messages.slice(0, -1)) {
    if (m.role === "system") history.push({ type: "system", text: String(m.content) });
    else if (m.role === "user") history.push({ type: "user", text: String(m.content) });
    else if (m.role === "assistant") history.push({ type: "model", response: [String(m.content)] });
    else return fail(res, 400, `unknown role ${m.role}`);
  }
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const id = `chatcmpl-${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  const stream = request.stream === true;
  if (stream) res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  await serialised(async () => {
    if (abort.signal.aborted) return;
    const sequence = context.getSequence();
    const session = new LlamaChatSession({ contextSequence: sequence });
    session.setChatHistory(history);
    let text = "";
    let finish = "stop";
    try {
      const result = await session.promptWithMeta(last.content, {
        maxTokens: request.max_tokens ?? 256,
        temperature: request.temperature ?? 0,
        seed: request.seed ?? 0,
        signal: abort.signal,
        stopOnAbortSignal: true,
        onTextChunk: (chunk) => {
          text += chunk;
          if (stream && !abort.signal.aborted) {
            const delta = { id, object: "chat.completion.chunk", created, model: name,
              choices: [{ index: 0, delta: { content: chunk }, finish_reason: null }] };
            res.write(`data: ${JSON.stringify(delta)}\n\n`);
          }
        },
      });
      if (result.stopReason === "maxTokens") finish = "length";
    } finally {
      session.dispose({ disposeSequence: true });
    }
    // Tests read these lines to see that a client's disconnect stopped the model.
    console.log(`${abort.signal.aborted ? "cancelled" : "completed"} ${id}`);
    if (abort.signal.aborted) return;
    if (stream) {
      const last = { id, object: "chat.completion.chunk", created, model: name,
        choices: [{ index: 0, delta: {}, finish_reason: finish }] };
      res.write(`data: ${JSON.stringify(last)}\n\n`);
      res.end("data: [DONE]\n\n");
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id, object: "chat.completion", created, model: name,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }] }));
    }
  });
}

const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/v1/chat/completions") {
    complete(req, res).catch((e) => {
      if (!res.headersSent) fail(res, 500, e.message);
      else res.end();
    });
  } else if (req.method === "GET" && req.url === "/v1/models") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ object: "list", data: [{ id: name, object: "model" }] }));
  } else {
    fail(res, 404, `no route ${req.method} ${req.url}`);
  }
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening on 127.0.0.1:${server.address().port}`));
