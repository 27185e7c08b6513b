// The chat's behaviour that htmx attributes cannot express: the slide-in panel, Enter to
// send, the message box while an answer streams, copy buttons, the prompt picker's "/",
// confirmations and keeping the newest message in view. Loaded with the CSP nonce; no inline
// handlers anywhere.
"use strict";

(() => {
  if (window.chatBehaviourLoaded) return; // the panel and a page may both include this file
  window.chatBehaviourLoaded = true;

  const NEAR_BOTTOM_PX = 80;

  // -- the slide-in panel ------------------------------------------------------------------

  function setPanel(open) {
    const panel = document.getElementById("chat-panel");
    const toggle = document.getElementById("chat-panel-toggle");
    if (!panel || !toggle) return;
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("chat-panel-open", open);
    if (open) {
      const input = document.getElementById("chat-input");
      if (input) input.focus();
    } else {
      toggle.focus();
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    if (target.closest("#chat-panel-toggle")) {
      const panel = document.getElementById("chat-panel");
      setPanel(Boolean(panel && panel.hidden));
    } else if (target.closest("#chat-panel-close")) {
      setPanel(false);
    }
  });

  document.addEventListener("keydown", (event) => {
    const panel = document.getElementById("chat-panel");
    if (event.key === "Escape" && panel && !panel.hidden) setPanel(false);
  });

  // -- sending -----------------------------------------------------------------------------

  function hasSomethingToSend(form) {
    const input = form.querySelector("#chat-input");
    const files = form.querySelector("#chat-files");
    const prompt = form.querySelector("#prompt-fields [name=prompt]");
    return Boolean(
      (input && input.value.trim()) || (files && files.files.length) || prompt
    );
  }

  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLTextAreaElement) || input.id !== "chat-input") return;
    if (event.key === "/" && !input.value) {
      // "/" in an empty message box opens the prompt picker.
      const button = document.getElementById("chat-prompts-button");
      if (button) {
        event.preventDefault();
        button.click();
      }
      return;
    }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    const form = input.form;
    if (form && !form.classList.contains("is-streaming") && hasSomethingToSend(form)) {
      form.requestSubmit();
    }
  });

  // Empty messages are ignored, whichever way they are sent.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      if (form.id === "chat-form" && (!hasSomethingToSend(form) || form.classList.contains("is-streaming"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }
      const question = form.dataset.confirm;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  // The file input is there only for models that accept attachments.
  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || select.id !== "chat-model") return;
    const option = select.selectedOptions[0];
    const accepts = Boolean(option && option.dataset.attachments === "true");
    const field = document.getElementById("chat-files-field");
    const input = document.getElementById("chat-files");
    if (field) field.hidden = !accepts;
    if (input) {
      input.disabled = !accepts;
      if (!accepts) input.value = "";
    }
  });

  // -- while an answer streams ---------------------------------------------------------------

  function composer() {
    return document.getElementById("chat-form");
  }

  function setStreaming(on) {
    const form = composer();
    if (!form) return;
    form.classList.toggle("is-streaming", on);
    const send = form.querySelector("#chat-send");
    if (send) send.disabled = on;
  }

  // The requests that start a turn (a message, Retry, a resume after a decision) stream its
  // answer; a follower (.chat-turn-follower) streams a turn the page did not start, and takes
  // over when such a response ends before the turn: the turn runs on in the server.
  const STARTERS = "#chat-form, #chat-retry-form, .chat-resume";
  const FOLLOWER = ".chat-turn-follower";
  const RECONNECTING = "The connection to the server was lost. Reconnecting…";

  function isStreamOf(source) {
    return source instanceof Element && (source.matches(STARTERS) || source.matches(FOLLOWER));
  }

  document.addEventListener("htmx:after:sse:connection", (event) => {
    const source = event.target;
    if (!isStreamOf(source)) return;
    if (source.id === "chat-form") {
      // The message is on its way: empty the box for the next one.
      source.querySelector("#chat-input").value = "";
      const files = source.querySelector("#chat-files");
      if (files) files.value = "";
      for (const id of ["prompt-fields", "prompt-picker"]) {
        const slot = document.getElementById(id);
        if (slot) slot.replaceChildren();
      }
    }
    const slot = document.getElementById("chat-form-error");
    if (slot && slot.textContent.trim() === RECONNECTING) slot.replaceChildren();
    setStreaming(true);
  });

  // The newest turn's follower, unless that turn ended or it streams already.
  function newestFollower() {
    const followers = document.querySelectorAll(FOLLOWER);
    return followers[followers.length - 1] || null;
  }

  function idleFollower() {
    const follower = newestFollower();
    const streaming = follower && follower._htmx && follower._htmx.sse;
    return follower && !follower.dataset.done && !streaming ? follower : null;
  }

  // htmx starts on a timer once its own script has run; when the hx-sse extension's script
  // (deferred too) arrives after that timer, htmx has processed the page without it, and a
  // follower in the page as served (a turn still being written) would never connect. Once
  // every deferred script has run, such a follower is processed again, now with it.
  document.addEventListener("DOMContentLoaded", () => {
    const chat = document.getElementById("chat");
    if (!chat || !chat.querySelector("[data-htmx-powered]")) return; // htmx has not started
    for (const follower of document.querySelectorAll(FOLLOWER)) {
      const triggers = follower._htmx && follower._htmx.triggerSpecs;
      if (!(triggers && triggers.length) && !follower.dataset.done) htmx.process(follower);
    }
  });

  document.addEventListener("htmx:sse:close", (event) => {
    const source = event.target;
    if (!isStreamOf(source)) return;
    const reason = event.detail && event.detail.reason;
    if (reason === "message") {
      const ended = source.matches(FOLLOWER) ? source : newestFollower();
      if (ended) ended.dataset.done = "true";
    }
    // "message": the turn's "done" event came (hx-sse:close); "removed": the element left the
    // page. Anything else: the response ended early, and the turn's follower goes on.
    const follower = reason !== "message" && reason !== "removed" ? idleFollower() : null;
    if (follower) {
      htmx.trigger(follower, "chat:follow");
      return;
    }
    setStreaming(false);
    rememberConversationUrl();
  });

  // Answers without a message of ours (a server error, an expired form, something deleted
  // in another tab) still say something.
  const GENERIC_ERRORS = {
    403: "This page is out of date or your session ended. Reload the page and try again.",
    404: "That conversation or message no longer exists. Reload the page to see what is left.",
    500: "Something went wrong on the server. Try again in a moment.",
    other: "The server could not take this request. Reload the page and try again.",
  };

  function showComposerError(text) {
    const slot = document.getElementById("chat-form-error");
    if (!slot) return;
    const paragraph = document.createElement("p");
    paragraph.className = "form-error";
    paragraph.setAttribute("role", "alert");
    paragraph.textContent = text;
    slot.replaceChildren(paragraph);
  }

  document.addEventListener("htmx:response:error", (event) => {
    const source = event.target;
    const status = event.detail && event.detail.ctx && event.detail.ctx.response.status;
    if (!(source instanceof Element) || !source.closest("#chat")) return;
    if (status === 403) showComposerError(GENERIC_ERRORS[403]);
    else if (status >= 500) showComposerError(GENERIC_ERRORS[500]);
  });

  // htmx 4 swaps error answers like any other. Our refusals are partials for the chat; an
  // error page (a whole document: Django's 400, 403, 404, 500) would replace the chat, or
  // the panel's content, with a page without its styles. It is not swapped: the message box
  // says what happened and the chat stays as it was.
  const WHOLE_DOCUMENT = /^\s*<(!doctype|html[\s>])/i;

  document.addEventListener("htmx:before:swap", (event) => {
    const source = event.target;
    const ctx = event.detail && event.detail.ctx;
    if (!(source instanceof Element) || !source.closest("#chat") || !ctx) return;
    const status = ctx.response.status;
    if (status < 400 || !WHOLE_DOCUMENT.test(ctx.text || "")) return;
    event.preventDefault();
    if (status !== 403 && status < 500) {
      showComposerError(GENERIC_ERRORS[status] || GENERIC_ERRORS.other);
    }
  });

  document.addEventListener("htmx:sse:error", (event) => {
    const source = event.target;
    if (source instanceof Element && source.closest("#chat")) showComposerError(RECONNECTING);
  });

  // The full page shows a new conversation's own URL as soon as the stream says it exists
  // (the answer goes on in the server: a reload, or the URL in another tab, shows it).
  function rememberConversationUrl() {
    const field = document.getElementById("chat-conversation-field");
    const chat = document.getElementById("chat");
    const url = field && field.dataset.url;
    if (url && chat && chat.dataset.surface === "page" && location.pathname !== url) {
      history.replaceState(null, "", url);
    }
  }

  // -- keeping the newest message in view ------------------------------------------------------

  let stickToBottom = true;

  function messagesBox() {
    return document.getElementById("chat-messages");
  }

  document.addEventListener("htmx:before:sse:message", () => {
    const box = messagesBox();
    if (box) stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  });

  document.addEventListener("htmx:after:sse:message", () => {
    const box = messagesBox();
    if (box && stickToBottom) box.scrollTop = box.scrollHeight;
    rememberConversationUrl();
  });

  document.addEventListener("htmx:after:swap", (event) => {
    const source = event.target;
    const swapped = event.detail && event.detail.ctx && event.detail.ctx.target;
    if (!(source instanceof Element)) return;
    // A chosen prompt's fields replace the list of prompts.
    if (source.closest(".prompt-choice")) {
      setTimeout(() => document.getElementById("prompt-picker")?.replaceChildren(), 0);
    }
    const box = messagesBox();
    if (box && swapped instanceof Element && ["chat-panel-body", "chat"].includes(swapped.id)) {
      box.scrollTop = box.scrollHeight;
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const box = messagesBox();
    if (box) box.scrollTop = box.scrollHeight;
  });

  // -- prompt picker and code blocks -------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;

    const clear = target.closest(".prompt-clear");
    if (clear) {
      const fields = document.getElementById("prompt-fields");
      if (fields) fields.replaceChildren();
      return;
    }

    const copy = target.closest(".copy-code");
    if (copy) {
      const code = copy.closest(".code-block")?.querySelector("code");
      if (!code || !navigator.clipboard) return;
      navigator.clipboard.writeText(code.textContent || "").then(
        () => {
          copy.textContent = "Copied";
          setTimeout(() => { copy.textContent = "Copy"; }, 1500);
        },
        () => { copy.textContent = "Copy failed"; },
      );
    }
  });
})();
