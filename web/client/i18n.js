// Texts in the member's language: English and Vietnamese. A message is a string with
// {name} placeholders; a missing key falls back to English, then to the key itself.

export function translator(lang, messages) {
  const own = messages[lang] ?? {};
  const fallback = messages.en ?? {};
  return (key, params = {}) => {
    const text = own[key] ?? fallback[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

// "vi" or "en": the element's lang attribute, else the page's, else the browser's.
export function pickLang(el) {
  const raw =
    el?.getAttribute?.("lang") ||
    globalThis.document?.documentElement?.lang ||
    globalThis.navigator?.language ||
    "en";
  return raw.toLowerCase().startsWith("vi") ? "vi" : "en";
}
