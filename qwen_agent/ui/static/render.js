/* Turns the server's events into the chat log. Unknown event types and step kinds are shown generically. */
"use strict";
const Render = (() => {
  const esc = Highlight.escape;
  const CLIP = '<svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M21 11.5l-8.5 8.5a5.5 5.5 0 0 1-7.8-7.8l8.5-8.5a3.7 3.7 0 0 1 5.2 5.2l-8.5 8.5a1.8 1.8 0 0 1-2.6-2.6l7.8-7.8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>';

  function el(tag, cls, html) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (html !== undefined) e.innerHTML = html;
    return e;
  }

  function fileUrl(cid, name) {
    return `/ui/api/conversations/${encodeURIComponent(cid)}/files/${encodeURIComponent(name)}`;
  }

  /* Answer text: ``` fences (python highlighted), `inline code`, **bold**, ![alt](work-dir file) images. */
  function markdown(text, cid) {
    return text.split(/```/).map((part, i) => {
      if (i % 2 === 1) {
        const nl = part.indexOf("\n");
        const lang = nl >= 0 ? part.slice(0, nl).trim().toLowerCase() : "";
        const code = nl >= 0 ? part.slice(nl + 1) : part;
        const body = ["", "py", "python", "python3"].includes(lang) ? Highlight.python(code) : esc(code);
        return `<pre class="code"><code>${body}</code></pre>`;
      }
      return esc(part)
        .replace(/!\[([^\]]*)\]\(([\w.\-\/]+\.(?:png|jpe?g|gif|svg|webp))\)/gi,
          (_, alt, name) => `<img class="plot" alt="${alt}" src="${fileUrl(cid, name)}">`)
        .replace(/`([^`\n]+)`/g, "<code>$1</code>")
        .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
    }).join("");
  }

  function thinking(text) {
    const d = el("details", "thinking");
    d.append(el("summary", "", "Thinking"), el("div", "thought", esc(text)));
    return d;
  }

  function argumentsBlock(call) {
    let args = null;
    try { args = JSON.parse(call.arguments); } catch (e) { /* raw text arguments */ }
    if (args && typeof args.code === "string") {
      return el("pre", "code", `<code>${Highlight.python(args.code)}</code>`);
    }
    if (args !== null) return el("pre", "args", `<code>${Highlight.json(JSON.stringify(args, null, 2))}</code>`);
    const looksLikeCode = call.name === "code_interpreter";
    return el("pre", looksLikeCode ? "code" : "args",
      `<code>${looksLikeCode ? Highlight.python(call.arguments) : esc(call.arguments)}</code>`);
  }

  class Log {
    constructor(root) { this.root = root; this.cid = null; this.turn = null; this.draft = null; this.pendingReasoning = ""; }

    clear(cid) { this.root.replaceChildren(); this.cid = cid; this.turn = null; this.draft = null; }

    scroll() { this.root.scrollTop = this.root.scrollHeight; }

    currentTurn() {
      if (!this.turn) { this.turn = el("section", "msg agent"); this.root.append(this.turn); }
      return this.turn;
    }

    endDraft() { if (this.draft) { this.draft.remove(); this.draft = null; } }

    /* A run that ended mid-generation keeps what the model had written, labelled as cut off. */
    freezeDraft(label) {
      if (!this.draft) return;
      this.draft.firstChild.textContent = label;
      this.draft.classList.add("cut");
      this.draft = null;
    }

    add(ev) {
      const handler = this["on_" + ev.type];
      if (handler) handler.call(this, ev); else this.currentTurn().append(el("div", "note", esc(JSON.stringify(ev))));
      this.scroll();
    }

    on_user(ev) {
      this.turn = null; this.draft = null;
      const m = el("section", "msg user");
      m.append(el("div", "text", esc(ev.text)));
      for (const name of ev.files || []) m.append(el("span", "chip", CLIP + " " + esc(name)));
      this.root.append(m);
    }

    on_upload(ev) {
      const f = ev.file;
      const kind = f.binary ? "binary, " : "";
      this.root.append(el("div", "note upload", `${CLIP} uploaded <a href="${f.url}" download>${esc(f.name)}</a>` +
        ` (${kind}${size(f.size)}); the agent sees it with your next message`));
    }

    on_status(ev) { this.currentTurn().append(el("div", "note", esc(ev.text))); }

    on_delta(ev) {
      if (!this.draft) {
        this.draft = el("pre", "draft");
        this.draft.append(el("span", "label", "generating..."), document.createTextNode(""));
        this.currentTurn().append(this.draft);
      }
      this.draft.lastChild.textContent += ev.text;
    }

    on_step(ev) {
      if (ev.kind === "stopped" && ev.reason === "cancelled") return;  // on_done keeps the cut draft and says so
      this.endDraft();
      const turn = this.currentTurn();
      const handler = this["step_" + ev.kind];
      if (handler) { handler.call(this, ev, turn); return; }
      turn.append(el("div", "note", `${esc(ev.kind)}: ${esc(ev.answer || ev.observation || "")}`));
    }

    /* One model turn: its reasoning, then every call it made (an answer turn shows its text in step_final). */
    step_turn(ev, turn) {
      const message = ev.message || {};
      const calls = message.tool_calls || [];
      if (!calls.length) { this.pendingReasoning = message.reasoning_content || ""; return; }
      if (message.reasoning_content) turn.append(thinking(message.reasoning_content));
      if (message.content) turn.append(el("div", "text", markdown(message.content, this.cid)));
      for (const call of calls) {
        const box = el("div", "step action");
        box.append(el("div", "head", `Tool call <span class="tool">${esc(call.name)}</span>`), argumentsBlock(call));
        turn.append(box);
      }
    }

    /* What the loop decided on its own, e.g. a repeated call not run again. */
    step_notice(ev, turn) { turn.append(el("div", "note notice", esc(ev.reason || ev.decision || ""))); }

    step_observation(ev, turn) {
      const text = (ev.observation || "").replace(/^!\[fig-\d+\]\([^)]*\)$/gm, "").trim();
      const box = el("details", "step observation" + (ev.is_error ? " error" : ""));
      box.open = true;
      box.append(el("summary", "", ev.is_error ? "Error" : "Result"), el("pre", "out", esc(text || "(no output)")));
      turn.append(box);
    }

    step_final(ev, turn) {
      if (this.pendingReasoning) turn.append(thinking(this.pendingReasoning));
      this.pendingReasoning = "";
      turn.append(el("div", "answer", markdown(ev.answer || "", this.cid)));
    }

    step_stopped(ev, turn) {
      turn.append(el("div", "note warn", `Stopped: ${esc(ev.reason || "")}`));
      if (ev.answer) turn.append(el("div", "answer partial", markdown(ev.answer, this.cid)));
    }

    on_files(ev) {
      const box = el("div", "files");
      for (const f of ev.files) {
        if (f.image) {
          const img = el("img", "plot");
          img.alt = f.name; img.src = f.url;
          box.append(img);
        }
        box.append(el("a", "file", `&#11015; ${esc(f.name)} <span class="muted">${size(f.size)}</span>`));
        box.lastChild.href = f.url; box.lastChild.download = f.name;
      }
      if (ev.more) box.append(el("div", "note", `and ${ev.more} more files in the work dir`));
      this.currentTurn().append(box);
    }

    on_error(ev) {
      this.freezeDraft("cut off by the error below:");
      this.currentTurn().append(el("div", "note error", "&#9888; " + esc(ev.message)));
    }

    on_interrupted(ev) {
      this.freezeDraft("cut off:");
      this.currentTurn().append(el("div", "note warn interrupted", "&#9888; " + esc(ev.text)));
    }

    on_done(ev) {
      this.freezeDraft(ev.status === "cancelled" ? "stopped here:" : "unfinished:");
      if (ev.status === "cancelled") this.currentTurn().append(el("div", "note warn", "Stopped by you."));
      this.turn = null;
    }
  }

  function size(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  return { Log, markdown, size };
})();
