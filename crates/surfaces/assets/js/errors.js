// Inline errors: the envelope's message and suggestion shown next to the field the server named
// (error.details.field, or the first schema problem's field), else under the form. Inputs get
// aria-invalid and point at their message, which is announced (role="alert").
//
// Convention: a field `name` of form `prefix` is the element #prefix-name with its message in
// #prefix-name-error; form-wide messages go in #prefix-form-error.

import { h, replace } from "./dom.js";

function parts(prefix, field) {
  return {
    input: document.getElementById(`${prefix}-${field}`),
    slot: document.getElementById(`${prefix}-${field}-error`),
  };
}

/** Clears the messages of `fields` and the form-wide one. */
export function clearErrors(prefix, fields) {
  for (const field of [...fields, "form"]) {
    const { input, slot } = parts(prefix, field);
    if (slot) {
      slot.hidden = true;
      slot.removeAttribute("role");
      slot.replaceChildren();
    }
    if (input) {
      input.removeAttribute("aria-invalid");
      const ids = (input.getAttribute("aria-describedby") || "").split(" ")
        .filter((id) => id && id !== `${prefix}-${field}-error`);
      if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
      else input.removeAttribute("aria-describedby");
    }
  }
}

/** The field an error is about, if the server said. */
export function errorField(error) {
  const details = error?.details;
  if (details && typeof details.field === "string") return details.field;
  const first = Array.isArray(details?.problems) ? details.problems[0] : null;
  return typeof first?.field === "string" ? first.field : null;
}

/**
 * Shows `error` (an envelope's error) next to its field among `fields`, else next to `fallback`,
 * else under the form. Focuses the field so the keyboard user lands where the fix goes.
 */
export function showError(prefix, fields, error, fallback = null) {
  clearErrors(prefix, fields);
  const named = errorField(error);
  const field = fields.includes(named) ? named : fallback;
  const { input, slot } = field ? parts(prefix, field) : parts(prefix, "form");
  const target = slot || parts(prefix, "form").slot;
  if (!target) return;
  replace(target,
    h("span", { class: "error-message", text: error?.message || "Something went wrong." }),
    error?.suggestion ? h("span", { class: "error-suggestion", text: error.suggestion }) : null,
    error?.code ? h("span", { class: "error-code", text: error.code }) : null);
  target.hidden = false;
  target.setAttribute("role", "alert");
  if (input && slot) {
    input.setAttribute("aria-invalid", "true");
    const ids = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    ids.add(slot.id);
    input.setAttribute("aria-describedby", [...ids].join(" "));
    input.focus();
  }
}
