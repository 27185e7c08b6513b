// Settings → AI: niceties on top of a page that works without JavaScript.
// - Allowed Models: type a custom model ID and press Enter to add it as a checked chip.
// - "Add to allowed models" after Test connection checks (or adds) the model in place.
// - "Start from default" copies the default system prompt into the field.
"use strict";

(() => {
  const MAX_MODEL_ID_LENGTH = 200;

  function problemWith(modelId) {
    if (!modelId) return "Type a model ID first.";
    if (/\s/.test(modelId)) return "Model IDs cannot contain spaces or line breaks.";
    if (modelId.length > MAX_MODEL_ID_LENGTH) {
      return `Model IDs can be at most ${MAX_MODEL_ID_LENGTH} characters.`;
    }
    return "";
  }

  function uniqueId(base) {
    let n = 0;
    while (document.getElementById(`${base}-${n}`)) n += 1;
    return `${base}-${n}`;
  }

  // Check the model's checkbox in the list, adding a chip for a custom ID.
  function allowModel(list, modelId) {
    for (const input of list.querySelectorAll('input[type="checkbox"]')) {
      if (input.value === modelId) {
        input.checked = true;
        return;
      }
    }
    const id = uniqueId(`${list.id}-custom`);
    const item = document.createElement("li");
    item.className = "model-choice model-choice-custom";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = list.dataset.fieldName;
    input.value = modelId;
    input.id = id;
    input.checked = true;
    const label = document.createElement("label");
    label.htmlFor = id;
    const code = document.createElement("code");
    code.textContent = modelId;
    const meta = document.createElement("span");
    meta.className = "model-meta";
    meta.textContent = "custom";
    label.append(code, " ", meta);
    item.append(input, " ", label);
    list.append(item);
  }

  function enhanceAllowedModels(fieldset) {
    const list = fieldset.querySelector(".model-choices");
    const entry = fieldset.querySelector("[data-custom-model-entry]");
    const fallback = fieldset.querySelector("[data-custom-models-fallback]");
    if (!list || !entry) return;
    const input = entry.querySelector("input");
    const message = entry.querySelector("[aria-live]");
    entry.hidden = false;
    // Keep the text list visible only if it already holds something (a re-rendered form).
    if (fallback && !fallback.querySelector("textarea").value.trim()) fallback.hidden = true;

    const add = () => {
      const modelId = input.value.trim();
      const problem = problemWith(modelId);
      if (problem) {
        message.textContent = problem;
        return false;
      }
      allowModel(list, modelId);
      message.textContent = `Added ${modelId}.`;
      input.value = "";
      return true;
    };
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      add();
    });
    // A model ID typed but not yet confirmed with Enter is still kept on Save.
    input.form?.addEventListener("submit", () => {
      if (input.value.trim()) add();
    });
  }

  document.addEventListener("click", (event) => {
    const allow = event.target.closest("[data-allow-model]");
    if (allow) {
      const list = document.getElementById(allow.dataset.allowedList);
      if (!list) return;
      event.preventDefault();
      allowModel(list, allow.dataset.allowModel);
      allow.textContent = "Added (save to keep)";
      allow.disabled = true;
      return;
    }
    const copy = event.target.closest("[data-copy-default-prompt]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copyDefaultPrompt);
      const field = document.getElementById(copy.dataset.copyInto);
      if (!source || !field) return;
      event.preventDefault();
      field.value = source.textContent;
      field.dispatchEvent(new Event("input", { bubbles: true }));
      field.focus();
    }
  });

  // "Add to models" (Test connection of a compatible provider) works once per model.
  document.addEventListener("htmx:after:request", (event) => {
    const button = event.target;
    if (button instanceof Element && button.matches("[data-disable-after-add]")) {
      button.textContent = "Added (save to keep)";
      button.disabled = true;
    }
  });

  const init = () => {
    document.querySelectorAll("[data-allowed-models]").forEach(enhanceAllowedModels);
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
