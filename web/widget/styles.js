// The widget's own CSS (inside its shadow root). A shop themes it with the --gamify-*
// custom properties on the element, or styles its ::part()s.
export const styles = `
:host { display: block; color: var(--gamify-text, #1f2330); font: 15px/1.45 var(--gamify-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  --_accent: var(--gamify-accent, #5b3cc4); --_on-accent: var(--gamify-accent-text, #fff); --_surface: var(--gamify-surface, #fff);
  --_bg: var(--gamify-background, #f6f5fb); --_muted: var(--gamify-muted, #5d6272); --_border: var(--gamify-border, #dedbe8);
  --_radius: var(--gamify-radius, 12px); --_ok: var(--gamify-success, #17753a); --_bad: var(--gamify-danger, #b42318); --_warn: var(--gamify-warning, #8a5a00); }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.root { background: var(--_bg); border-radius: var(--_radius); padding: 20px; container-type: inline-size; }
header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 12px; margin-bottom: 16px; }
h2 { font-size: 1.3em; margin: 0; }
h3 { font-size: 1.05em; margin: 22px 0 10px; }
.who { color: var(--_muted); margin: 2px 0 0; }
.link { font-size: .85em; color: var(--_muted); display: inline-flex; align-items: center; gap: 6px; }
.link::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--_warn); }
.link[data-state=open]::before { background: var(--_ok); }
.link[data-state=closed]::before { background: var(--_bad); }
.banner { padding: 10px 14px; border-radius: 8px; background: #fff4e5; color: #5c3a00; border: 1px solid #f3c98b; margin-bottom: 14px; display: flex; gap: 12px; align-items: center; justify-content: space-between; }
.banner[data-kind=error] { background: #fdecea; color: #7a1610; border-color: #f1b0a9; }
.state { padding: 28px 12px; text-align: center; color: var(--_muted); }
.balances { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.balance, .card, .redemption { background: var(--_surface); border: 1px solid var(--_border); border-radius: var(--_radius); }
.balance { padding: 14px 16px; }
.balance .name { color: var(--_muted); font-size: .9em; text-transform: capitalize; }
.amount { font-size: 1.8em; font-weight: 700; line-height: 1.2; color: var(--_accent); }
.balance .note { font-size: .85em; color: var(--_muted); margin: 2px 0 0; }
.catalog { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 14px; list-style: none; margin: 0; padding: 0; }
.card { display: flex; flex-direction: column; overflow: hidden; }
.image { aspect-ratio: 2 / 1; background: linear-gradient(135deg, var(--_accent), #c86dd7); display: grid; place-items: center; color: #fff; font-size: 2em; font-weight: 700; }
.image img { width: 100%; height: 100%; object-fit: cover; display: block; }
.body { padding: 12px 14px 14px; display: flex; flex-direction: column; gap: 6px; flex: 1; }
.body h4 { margin: 0; font-size: 1em; overflow-wrap: anywhere; }
.meta { display: flex; justify-content: space-between; gap: 8px; font-size: .9em; }
.cost { font-weight: 700; }
.stock { color: var(--_muted); }
.desc { margin: 0; color: var(--_muted); font-size: .88em; }
.reason { margin: 0; font-size: .88em; color: var(--_bad); }
.reason[data-ok] { color: var(--_ok); }
.body .actions { margin-top: auto; padding-top: 4px; }
button { font: inherit; border-radius: 8px; border: 1px solid transparent; padding: 8px 14px; cursor: pointer; }
button:focus-visible { outline: 3px solid var(--_accent); outline-offset: 2px; }
.primary { background: var(--_accent); color: var(--_on-accent); font-weight: 600; width: 100%; }
.primary:disabled { background: #e7e5ee; color: #676b78; cursor: not-allowed; }
.secondary { background: var(--_surface); border-color: var(--_border); color: inherit; }
.redemptions { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.redemption { padding: 10px 14px; display: grid; grid-template-columns: 1fr auto; gap: 4px 12px; align-items: center; }
.redemption .when { color: var(--_muted); font-size: .85em; }
.status { font-size: .8em; font-weight: 600; padding: 3px 10px; border-radius: 999px; background: #ece9f7; color: #3d2b86; white-space: nowrap; }
.status[data-status=FULFILLED] { background: #dcf5e4; color: var(--_ok); }
.status[data-status=FAILED] { background: #fdecea; color: var(--_bad); }
.status[data-status=POSTPONED], .status[data-status=RECOVERABLE_FAILURE] { background: #fff4e5; color: var(--_warn); }
.voucher { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; background: #f3fbf5; border: 1px dashed #8bcf9f; border-radius: 8px; padding: 8px 10px; }
.voucher code { font-size: 1.1em; font-weight: 700; letter-spacing: .04em; overflow-wrap: anywhere; }
.voucher dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; font-size: .85em; }
.voucher dt { color: var(--_muted); }
.voucher dd { margin: 0; overflow-wrap: anywhere; }
dialog { border: none; border-radius: var(--_radius); padding: 22px; max-width: min(420px, 92vw); color: inherit; background: var(--_surface); box-shadow: 0 20px 50px rgb(0 0 0 / .25); }
dialog::backdrop { background: rgb(20 16 40 / .45); }
dialog h4 { margin: 0 0 8px; font-size: 1.1em; }
dialog p { margin: 0 0 14px; }
dialog .buttons { display: flex; gap: 10px; justify-content: flex-end; }
dialog .buttons .primary { width: auto; }
.error { color: var(--_bad); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@container (max-width: 420px) { .root { padding: 14px; } .catalog { grid-template-columns: 1fr; } }
@media (prefers-reduced-motion: no-preference) { .status { transition: background .3s; } }
`;
