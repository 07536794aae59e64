// The translation page: languages from GET /languages, translations from POST /v1/translate, streamed (same origin).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { charLimit: 5000, keyRequired: false, busy: false };

function setStatus(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${url}: HTTP ${response.status}`);
  return body;
}

function fillSelect(select, languages, wanted) {
  select.replaceChildren(...languages.map(({ code, name }) => new Option(`${name} (${code})`, code)));
  if (languages.some((l) => l.code === wanted)) select.value = wanted;
  select.disabled = false;
}

async function loadLanguages() {
  for (let attempt = 0; ; attempt++) {
    try {
      const [languages, settings] = await Promise.all([getJSON("/languages"), getJSON("/frontend/settings")]);
      state.charLimit = settings.charLimit;
      state.keyRequired = settings.keyRequired;
      $("key-row").hidden = !settings.keyRequired;
      $("text").maxLength = settings.charLimit;
      setupFiles(settings);
      fillSelect($("source"), languages, localStorage.getItem("m2m100.source") || "en");
      fillSelect($("target"), languages, localStorage.getItem("m2m100.target") || "fr");
      updateCount();
      setStatus("");
      return;
    } catch (error) {
      // 503 while the model loads: retry with a short backoff.
      setStatus(`Waiting for the server: ${error.message}`, attempt > 2);
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * (attempt + 1), 3000)));
    }
  }
}

function updateCount() {
  $("count").textContent = `${$("text").value.length} / ${state.charLimit}`;
}

async function translate() {
  const text = $("text").value;
  if (state.busy) return;
  if (!text.trim()) {
    $("result").value = "";
    $("copy").disabled = true;
    setStatus("Type some text first.");
    return;
  }
  // POST /v1/translate with stream: sentences appear as they are translated (Server-Sent Events), then the
  // `done` event gives the whole text with its original layout.
  const payload = { items: [text], source: $("source").value, target: $("target").value, format: "text", stream: true };
  const key = $("api-key").value.trim();
  if (key) payload.api_key = key;
  state.busy = true;
  $("translate").disabled = true;
  setStatus("Translating…");
  const started = performance.now();
  try {
    const response = await fetch("/v1/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(payload),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      throw new Error(body.error || `HTTP ${response.status}`);
    }
    $("result").value = "";
    const done = await readEvents(response, (sentence) => {
      const result = $("result");
      result.value = result.value ? `${result.value} ${sentence.text}` : sentence.text;
    });
    $("result").value = done.translations[0].text;
    $("copy").disabled = false;
    $("timing").textContent = `${Math.round(performance.now() - started)} ms`;
    setStatus("");
  } catch (error) {
    setStatus(`Translation failed: ${error.message}`, true);
  } finally {
    state.busy = false;
    $("translate").disabled = false;
  }
}

// Read a Server-Sent Events answer: onSentence(data) per `sentence` event; resolves with the `done` event's
// data; rejects with the `error` event's message, or when the stream ends without `done`.
async function readEvents(response, onSentence) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the answer ended early");
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      const parsed = JSON.parse(data || "{}");
      if (event === "sentence") onSentence(parsed);
      else if (event === "done") return parsed;
      else if (event === "error") throw new Error(parsed.error || "translation failed");
    }
  }
}

function swap() {
  const source = $("source"), target = $("target");
  [source.value, target.value] = [target.value, source.value];
  const result = $("result").value;
  if (result) {
    $("result").value = $("text").value;
    $("text").value = result;
    updateCount();
  }
  remember();
}

async function copy() {
  const text = $("result").value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API unavailable (plain http on another host): fall back to a selection copy.
    $("result").select();
    document.execCommand("copy");
  }
  setStatus("Copied to the clipboard.");
}

// Documents: POST /translate_file (multipart), then download the translated file from translatedFileUrl.
function setupFiles(settings) {
  const formats = settings.supportedFilesFormat || [];
  $("files").hidden = !settings.filesTranslation || formats.length === 0;
  $("formats").textContent = formats.join(" ");
  $("file").accept = formats.join(",");
}

async function translateFile(file) {
  if (!file || state.busy) return;
  state.busy = true;
  setStatus(`Translating ${file.name}…`);
  try {
    const form = new FormData();
    form.append("file", file);
    form.append("source", $("source").value);
    form.append("target", $("target").value);
    if (state.keyRequired) form.append("api_key", $("api-key").value);
    const response = await fetch("/translate_file", { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    const download = await fetch(body.translatedFileUrl);
    if (!download.ok) throw new Error(`download failed: HTTP ${download.status}`);
    const blob = await download.blob();
    const match = /filename="([^"]+)"/.exec(download.headers.get("Content-Disposition") || "");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = match ? match[1] : file.name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    setStatus(`Translated ${file.name}`);
  } catch (error) {
    setStatus(`${file.name}: ${error.message}`, true);
  } finally {
    state.busy = false;
    $("file").value = "";
  }
}

function remember() {
  localStorage.setItem("m2m100.source", $("source").value);
  localStorage.setItem("m2m100.target", $("target").value);
}

document.addEventListener("DOMContentLoaded", () => {
  $("translate").addEventListener("click", translate);
  $("swap").addEventListener("click", swap);
  $("copy").addEventListener("click", copy);
  $("source").addEventListener("change", remember);
  $("target").addEventListener("change", remember);
  $("text").addEventListener("input", updateCount);
  $("file").addEventListener("change", (event) => translateFile(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    translateFile(event.dataTransfer.files[0]);
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      translate();
    }
  });
  loadLanguages();
});
