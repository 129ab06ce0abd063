// The widget's CSS, inside its shadow root; shops theme it with the --gamify-* properties
// and ::part()s listed in README.md.
export const styles = `
:host { display: block; color: var(--gamify-text, #1f2330); font: 15px/1.45 var(--gamify-font, system-ui, sans-serif);
  --a: var(--gamify-accent, #5b3cc4); --s: var(--gamify-surface, #fff); --m: var(--gamify-muted, #5d6272);
  --b: var(--gamify-border, #dedbe8); --r: var(--gamify-radius, 12px); --ok: var(--gamify-success, #17753a);
  --bad: var(--gamify-danger, #b42318); --warn: var(--gamify-warning, #8a5a00); }
* { box-sizing: border-box; }
.root { background: var(--gamify-background, #f6f5fb); border-radius: var(--r); padding: 20px; container-type: inline-size; }
header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 12px; }
h2 { font-size: 1.3em; margin: 0; }
h3 { font-size: 1.05em; margin: 22px 0 10px; }
.who, .when, .stock, .desc, .note, .name, .state, .link { color: var(--m); margin: 0; }
.desc, .note, .reason, .when, .link { font-size: .87em; }
.link::before { content: "● "; color: var(--warn); }
.link[data-state=open]::before { color: var(--ok); }
.link[data-state=closed]::before { color: var(--bad); }
.banner { padding: 10px 14px; border-radius: 8px; background: #fff4e5; color: #5c3a00; border: 1px solid #f3c98b; margin-top: 14px; display: flex; gap: 12px; align-items: center; justify-content: space-between; }
.banner:not([data-problem=network]) { background: #fdecea; color: #7a1610; border-color: #f1b0a9; }
.state { padding: 24px 12px; text-align: center; }
.balances, .catalog { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 12px; }
.balance, .card, .redemption { background: var(--s); border: 1px solid var(--b); border-radius: var(--r); }
.balance { padding: 14px 16px; }
.name { text-transform: capitalize; }
.amount { font-size: 1.8em; font-weight: 700; color: var(--a); }
ul { list-style: none; margin: 0; padding: 0; }
.card { display: flex; flex-direction: column; overflow: hidden; }
.image { aspect-ratio: 2 / 1; background: linear-gradient(135deg, var(--a), color-mix(in srgb, var(--a) 45%, #fff)); display: grid; place-items: center; color: #fff; font-size: 2em; font-weight: 700; }
.image img { width: 100%; height: 100%; object-fit: cover; }
.body { padding: 12px 14px 14px; display: flex; flex-direction: column; gap: 6px; flex: 1; }
h4 { margin: 0; font-size: 1em; overflow-wrap: anywhere; }
.meta { display: flex; justify-content: space-between; gap: 8px; }
.cost { font-weight: 700; }
.reason { margin: 0 0 auto; color: var(--bad); }
.reason[data-ok] { color: var(--ok); }
button { font: inherit; border-radius: 8px; border: 1px solid var(--b); padding: 8px 14px; cursor: pointer; background: var(--s); color: inherit; }
button:focus-visible { outline: 3px solid var(--a); outline-offset: 2px; }
.primary { background: var(--a); color: var(--gamify-accent-text, #fff); font-weight: 600; border-color: transparent; }
.card .primary { width: 100%; }
.primary:disabled { background: #e7e5ee; color: #676b78; cursor: not-allowed; }
.redemptions { display: grid; gap: 8px; }
.redemption { padding: 10px 14px; display: grid; grid-template-columns: 1fr auto; gap: 4px 12px; align-items: center; }
.status { font-size: .8em; font-weight: 600; padding: 3px 10px; border-radius: 99px; background: #ece9f7; color: #3d2b86; }
.status[data-status=FULFILLED] { background: #dcf5e4; color: var(--ok); }
.status[data-status=FAILED] { background: #fdecea; color: var(--bad); }
.status[data-status=POSTPONED], .status[data-status=RECOVERABLE_FAILURE] { background: #fff4e5; color: var(--warn); }
.voucher { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; background: #f3fbf5; border: 1px dashed #8bcf9f; border-radius: 8px; padding: 8px 10px; overflow-wrap: anywhere; }
code { font-size: 1.1em; font-weight: 700; user-select: all; }
dialog { border: 0; border-radius: var(--r); padding: 22px; max-width: min(420px, 92vw); color: inherit; background: var(--s); box-shadow: 0 20px 50px #0004; }
dialog::backdrop { background: #14102873; }
dialog p { margin: 8px 0 14px; }
.buttons { display: flex; gap: 10px; justify-content: flex-end; }
.error { color: var(--bad); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@container (max-width: 480px) { .root { padding: 14px; } .catalog { grid-template-columns: 1fr; } .image { aspect-ratio: 4 / 1; font-size: 1.5em; } }
`;
