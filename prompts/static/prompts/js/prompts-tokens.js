// API tokens page: the "Copy" button next to a newly created token.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copyTarget);
  const status = button.parentElement.querySelector(".token-copy-status");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    if (status) status.textContent = "Copied.";
  } catch {
    if (status) status.textContent = "Press Ctrl+C (⌘C) to copy the selected token.";
  }
});
