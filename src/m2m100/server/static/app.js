// The translation page: languages from GET /languages, translations from POST /translate (same origin).
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
  const payload = { q: text, source: $("source").value, target: $("target").value, format: "text" };
  const key = $("api-key").value.trim();
  if (key) payload.api_key = key;
  state.busy = true;
  $("translate").disabled = true;
  setStatus("Translating…");
  const started = performance.now();
  try {
    const response = await fetch("/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    $("result").value = body.translatedText;
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
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      translate();
    }
  });
  loadLanguages();
});
