/* The page's state and its conversation with the server: send, follow the event stream, reconnect. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const STORE_KEY = "qwen-agent-ui.conversation";
  const HEADERS = { "X-Requested-By": "qwen-agent-ui" };
  const log = new Render.Log($("log"));
  const state = { cid: null, last: -1, running: false, following: false, again: false, info: null, lastText: "",
    abort: null, listTimer: null };

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body, raw) {
    const init = { method, headers: { ...HEADERS } };
    if (raw !== undefined) init.body = raw;
    else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    const resp = await fetch(path, init);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new HttpError(resp.status, data.error || `${resp.status} ${resp.statusText}`);
    return data;
  }

  function banner(text, kind) {
    const b = $("banner");
    b.hidden = !text; b.textContent = text || ""; b.className = kind || "error";
  }

  function setRunning(on) {
    state.running = on;
    $("stop").hidden = !on; $("send").hidden = on;
    document.body.classList.toggle("running", on);
  }

  /* --- conversations ---------------------------------------------------------------------------- */
  function show(cid) {
    if (state.abort) state.abort.abort();  // stop following the one shown before
    state.cid = cid; state.last = -1;
    localStorage.setItem(STORE_KEY, cid);
    log.clear(cid);
    setRunning(false);
    document.body.classList.remove("show-chats");
  }

  async function newConversation(note) {
    const { id } = await api("POST", "/ui/api/conversations");
    show(id);
    banner(note || "", "info");
    refreshList();
  }

  async function openConversation(cid) {
    show(cid);
    markCurrent();
    await follow();
  }

  /* The list of conversations, newest first: click one to switch, x twice to delete it. */
  async function refreshList() {
    let data;
    try { data = await api("GET", "/ui/api/conversations"); } catch (e) { return; }
    const list = $("chat-list");
    list.replaceChildren(...data.conversations.map((c) => {
      const li = document.createElement("li");
      li.className = `chat ${c.status}`; li.dataset.id = c.id;
      const open = document.createElement("button");
      open.type = "button"; open.className = "open"; open.textContent = c.title; open.title = c.title;
      if (c.status !== "idle") {
        const badge = document.createElement("span");
        badge.className = "state"; badge.textContent = c.status;
        open.append(badge);
      }
      open.addEventListener("click", () => {
        if (c.id !== state.cid) openConversation(c.id); else document.body.classList.remove("show-chats");
      });
      const del = document.createElement("button");
      del.type = "button"; del.className = "delete"; del.title = "Delete this conversation and its files";
      del.innerHTML = "&#10005;";
      del.addEventListener("click", () => deleteConversation(c.id, del));
      li.append(open, del);
      return li;
    }));
    markCurrent();
    return data.conversations;
  }

  function markCurrent() {
    for (const li of $("chat-list").children) li.classList.toggle("current", li.dataset.id === state.cid);
  }

  async function deleteConversation(cid, button) {
    if (!button.classList.contains("armed")) {  // a first click only asks
      button.classList.add("armed"); button.textContent = "Delete?";
      setTimeout(() => { button.classList.remove("armed"); button.innerHTML = "&#10005;"; }, 4000);
      return;
    }
    try { await api("DELETE", `/ui/api/conversations/${encodeURIComponent(cid)}`); }
    catch (e) { banner(`Could not delete the conversation: ${e.message}`); return; }
    const left = await refreshList();
    if (cid === state.cid) {
      if (left && left.length) await openConversation(left[0].id); else await newConversation();
    }
  }

  /* --- the event stream -------------------------------------------------------------------------- */
  function handle(ev, cid) {
    if (cid !== state.cid || ev.seq <= state.last) return;  // another conversation's, or already shown

    state.last = ev.seq;
    if (ev.type === "user") setRunning(true);
    if (ev.type === "done") {
      setRunning(false);
      if (ev.status === "error" && !$("input").value) $("input").value = state.lastText;  // nothing lost
      clearTimeout(state.listTimer);  // its title and state (once, after a replay of many runs)
      state.listTimer = setTimeout(refreshList, 200);
    }
    log.add(ev);
  }

  async function readStream(resp, cid) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "", ended = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        if (/^event: end$/m.test(block)) { ended = true; continue; }
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) handle(JSON.parse(data), cid);
      }
    }
    return ended;
  }

  /* Show every event after the last one seen, and keep following while a run goes on. */
  async function follow() {
    if (state.following) { state.again = true; return; }
    state.following = true;
    try {
      do {
        state.again = false;
        const cid = state.cid;
        const abort = state.abort = new AbortController();
        try {
          const resp = await fetch(`/ui/api/conversations/${encodeURIComponent(cid)}/events?after=${state.last + 1}`,
            { signal: abort.signal });
          if (resp.status === 404) { await newConversation("The server no longer knows this conversation, so a new one was started."); return; }
          if (resp.status === 401) { askKey(); return; }
          if (!resp.ok) {
            const data = await resp.json().catch(() => ({}));
            throw new HttpError(resp.status, data.error || `${resp.status} ${resp.statusText}`);
          }
          if (!(await readStream(resp, cid))) throw new Error("the event stream was cut");
          if ($("banner").className === "lost") banner("");
        } catch (e) {
          if (cid !== state.cid) { state.again = true; continue; }  // the page switched to another conversation
          if (e instanceof HttpError && e.status === 500) { banner(e.message); return; }
          throw e;
        }
      } while (state.again);
    } catch (e) {
      lost();
    } finally {
      state.following = false;
    }
  }

  function lost() {
    banner("Lost the connection to the server; retrying...", "lost");
    setTimeout(async () => {
      let info;
      try {
        info = await api("GET", "/ui/api/info");
      } catch (e) {
        if (e instanceof HttpError) { follow(); return; }
        lost(); return;
      }
      banner("Reconnected.", "info");
      if (state.info && info.instance !== state.info.instance) {  // a restarted server: replay from its store
        state.info = info;
        refreshList();
        openConversation(state.cid);
        return;
      }
      follow();
    }, 1000);
  }

  /* --- user actions ------------------------------------------------------------------------------ */
  async function send() {
    const input = $("input");
    const text = input.value;
    if (!text.trim() || state.running) return;
    const max = state.info ? state.info.max_message_chars : Infinity;
    if (text.length > max) {
      banner(`The message has ${text.length.toLocaleString()} characters; the limit is ${max.toLocaleString()}. ` +
        "Upload long text as a file instead.");
      return;
    }
    try {
      await api("POST", `/ui/api/conversations/${encodeURIComponent(state.cid)}/messages`, { text });
    } catch (e) {
      if (e.status === 404) { await newConversation("The server no longer knows this conversation (it restarted?); a new one was started: send again."); return; }
      banner(e instanceof HttpError ? e.message : "Could not reach the server: the message was not sent.");
      return;
    }
    state.lastText = text; input.value = ""; banner("");
    setRunning(true);
    refreshList();
    follow();
  }

  async function upload(files) {
    const max = state.info ? state.info.max_upload_bytes : Infinity;
    for (const f of files) {
      if (f.size > max) { banner(`${f.name} is ${Render.size(f.size)}; the upload limit is ${Render.size(max)}.`); continue; }
      try {
        await api("PUT", `/ui/api/conversations/${encodeURIComponent(state.cid)}/files/${encodeURIComponent(f.name)}`,
          undefined, f);
      } catch (e) {
        banner(`Upload of ${f.name} failed: ${e instanceof HttpError ? e.message : "the server is unreachable"}`);
      }
    }
    $("files").value = "";
    follow();
  }

  async function stop() {
    try { await api("POST", `/ui/api/conversations/${encodeURIComponent(state.cid)}/stop`); }
    catch (e) { banner("Could not reach the server to stop the run."); }
  }

  function askKey() { $("keyform").hidden = false; $("key").focus(); }

  async function unlock(ev) {
    ev.preventDefault();
    try { await api("POST", "/ui/api/login", { key: $("key").value }); }
    catch (e) { banner(e.message); return; }
    $("keyform").hidden = true; banner("");
    start();
  }

  async function start() {
    try {
      state.info = await api("GET", "/ui/api/info");
      $("model").textContent = `${state.info.model}` + (state.info.tools.length ? ` · ${state.info.tools.join(", ")}` : "");
      if (state.info.notice) banner(state.info.notice, "info");
      const listed = (await refreshList()) || [];
      const saved = localStorage.getItem(STORE_KEY);
      const known = listed.find((c) => c.id === saved) || listed[0];
      if (known) await openConversation(known.id); else await newConversation(state.info.notice);
      document.body.dataset.ready = "1";
    } catch (e) {
      if (e.status === 401) askKey(); else lost();
    }
  }

  $("composer").addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
  $("input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); }
  });
  $("stop").addEventListener("click", stop);
  $("new").addEventListener("click", () => newConversation().catch(() => lost()));
  $("chats-toggle").addEventListener("click", () => document.body.classList.toggle("show-chats"));
  $("files").addEventListener("change", (ev) => upload([...ev.target.files]));
  $("keyform").addEventListener("submit", unlock);
  start();
})();
