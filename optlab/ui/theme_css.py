"""The page CSS of the dark and projector themes: Streamlit's own widgets restyled.

Streamlit's theme lives in the server's config (one for every browser), so a look
chosen per session is CSS injected by ``frame/look.py``: the app, header and sidebar,
text, inputs and selects (and their drop-down lists), buttons, number steppers, tabs,
expanders, bordered containers, alerts, code, tables (``st.dataframe`` draws on a
canvas: it is inverted in the dark theme), the player bar and the step cursor.
Disabled (locked) fields and buttons look disabled in every theme, light included
(``LIGHT_CSS``): a dashed border, a greyer fill, muted ink that still reads at 4.5:1 or
more, and a not-allowed cursor.
"""

from __future__ import annotations

_DARK_BG = "#0e1117"
_DARK_PANEL = "#161a23"
_DARK_INPUT = "#1d2230"
_DARK_BORDER = "#5a6275"
_DARK_INK = "#e8e8e8"

# Streamlit's own widgets (1.67): text fields and areas have root elements of their own,
# the select a react-aria group; the stepper and the select's arrow are buttons too.
_FIELD_BOXES = (
    '[data-testid="stTextInputRootElement"], [data-testid="stTextAreaRootElement"], '
    '[data-testid="stNumberInputContainer"], '
    ':is([data-testid="stSelectbox"], [data-testid="stMultiSelect"]) [role="group"]'
)
_LOCKED_FIELD = ':is(input:not([type="checkbox"], [type="radio"]), textarea):disabled'


def disabled_css(ink: str, fill: str, border: str) -> str:
    """Disabled fields and buttons: `ink` on `fill` (contrast 4.5:1 or more, dimmer than
    an enabled one's), a dashed `border`, a not-allowed cursor; nothing faded by opacity."""
    return f"""
  :is([data-testid="stAppViewContainer"], [data-testid="stSidebar"]) {_LOCKED_FIELD} {{
    color: {ink} !important; -webkit-text-fill-color: {ink} !important;
    background-color: {fill} !important; cursor: not-allowed; }}
  :is({_FIELD_BOXES}):has({_LOCKED_FIELD}) {{
    background-color: {fill} !important; border-color: {border} !important;
    border-style: dashed !important; }}
  :is({_FIELD_BOXES}):has({_LOCKED_FIELD}) button:disabled {{
    background-color: {fill} !important; color: {ink} !important; }}
  :is({_FIELD_BOXES}):has({_LOCKED_FIELD}) button:disabled svg {{ fill: {ink} !important; }}
  :is([data-testid="stAppViewContainer"], [data-testid="stSidebar"])
    :is(button[data-testid^="stBaseButton"], [data-testid="stDownloadButton"] button):disabled {{
    background-color: {fill} !important; color: {ink} !important; opacity: 1 !important;
    border-color: {border} !important; border-style: dashed !important;
    font-weight: 400 !important; cursor: not-allowed; }}
  :is([data-testid="stAppViewContainer"], [data-testid="stSidebar"])
    :is(button[data-testid^="stBaseButton"], [data-testid="stDownloadButton"] button):disabled
    :is(p, span, div) {{ color: {ink} !important; font-weight: 400 !important; }}
"""


#: light: Streamlit fades a disabled widget's label too (2.3:1); dark and projector ink theirs
LIGHT_CSS = f"""<style>{disabled_css("#5c606b", "#ececea", "#8a8d94")}
  [data-testid="stWidgetLabel"][disabled] :is(p, span) {{ color: #5c606b !important; }}
</style>"""

DARK_CSS = f"""
<style>
  :root {{ --optlab-button: {_DARK_INPUT}; --optlab-border: {_DARK_BORDER};
    --optlab-cursor: {_DARK_INK}; color-scheme: dark; }}
  [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stHeader"],
  [data-testid="stBottomBlockContainer"], [data-testid="stMain"] {{
    background-color: {_DARK_BG} !important; color: {_DARK_INK}; }}
  [data-testid="stSidebar"], [data-testid="stSidebarContent"] {{
    background-color: {_DARK_PANEL} !important; }}
  [data-testid="stAppViewContainer"] :is(p, li, label, h1, h2, h3, h4, h5, h6, span, td, th,
    summary, small, strong, b, em, div[data-testid="stMarkdownContainer"]),
  [data-testid="stSidebar"] * {{ color: {_DARK_INK}; }}
  [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {{
    color: #aab1bd !important; }}
  [data-testid="stAppViewContainer"] :is(input, textarea),
  [data-testid="stSidebar"] :is(input, textarea) {{
    background-color: {_DARK_INPUT} !important; color: {_DARK_INK} !important;
    -webkit-text-fill-color: {_DARK_INK}; }}
  [data-baseweb="input"], [data-baseweb="base-input"], [data-baseweb="textarea"],
  [data-baseweb="select"] > div, {_FIELD_BOXES} {{
    background-color: {_DARK_INPUT} !important; border-color: {_DARK_BORDER} !important;
    color: {_DARK_INK} !important; }}
  [data-baseweb="select"] > div * {{ background-color: transparent !important; }}
  :is([data-testid="stSelectbox"], [data-testid="stMultiSelect"]) [role="group"] {{
    background-color: {_DARK_INPUT} !important; border-color: {_DARK_BORDER} !important; }}
  [role="listbox"], [role="listbox"] [role="option"] {{
    background-color: {_DARK_INPUT} !important; color: {_DARK_INK} !important; }}
  [role="listbox"] [role="option"]:hover, [role="listbox"] [aria-selected="true"] {{
    background-color: #2c3446 !important; }}
  [data-baseweb="select"] svg, [data-testid="stNumberInput"] svg,
  [data-testid="stSelectbox"] [role="group"] svg {{ fill: {_DARK_INK}; }}
  [data-baseweb="popover"] :is(ul, li, div[role="listbox"], div[role="option"]),
  [data-baseweb="menu"], [data-testid="stPopoverBody"] {{
    background-color: {_DARK_INPUT} !important; color: {_DARK_INK} !important; }}
  [data-baseweb="popover"] li:hover, [data-baseweb="popover"] [aria-selected="true"] {{
    background-color: #2c3446 !important; }}
  button:is([data-testid^="stBaseButton-secondary"], [data-testid^="stBaseButton-tertiary"],
    [data-testid="stNumberInputStepDown"], [data-testid="stNumberInputStepUp"],
    [data-testid="stBaseButton-minimal"]),
  [data-testid="stDownloadButton"] button, [data-testid="stPopover"] button {{
    background-color: {_DARK_INPUT} !important; color: {_DARK_INK} !important;
    border-color: {_DARK_BORDER} !important; }}
  button:is([data-testid^="stBaseButton-secondary"], [data-testid="stNumberInputStepDown"],
    [data-testid="stNumberInputStepUp"]):hover {{ background-color: #2c3446 !important; }}
  [data-baseweb="tab-list"] {{ border-bottom-color: {_DARK_BORDER} !important; }}
  [data-baseweb="tab"] {{ background-color: transparent !important; }}
  [data-baseweb="tab"] p {{ color: #c9ced8 !important; }}
  [data-baseweb="tab"][aria-selected="true"] p {{ color: #ffffff !important; }}
  [data-testid="stExpander"] details, [data-testid="stVerticalBlockBorderWrapper"],
  div[class*="st-key-"][data-testid="stVerticalBlock"] {{
    border-color: {_DARK_BORDER} !important; }}
  [data-testid="stExpander"] summary:hover {{ background-color: #1a1f2b !important; }}
  [data-testid="stAlert"] > div {{ background-color: #1b2333 !important; }}
  [data-testid="stCode"] pre, [data-testid="stCode"] code, pre, code {{
    background-color: #151922 !important; color: {_DARK_INK} !important; }}
  [data-testid="stDataFrame"], [data-testid="stDataFrameResizable"] {{
    filter: invert(0.9) hue-rotate(180deg); }}
  [data-testid="stTable"] table, table.optlab-summary,
  table.optlab-summary th {{ color: {_DARK_INK} !important; }}
  [data-testid="stTable"] :is(td, th), .optlab-summary :is(td, th) {{
    border-color: {_DARK_BORDER} !important; }}
  [data-testid="stToolbar"] button, [data-testid="stMainMenu"] svg {{ color: {_DARK_INK}; }}
  .katex {{ color: {_DARK_INK}; }}
  hr {{ border-color: {_DARK_BORDER} !important; }}
  .optlab-player-speed option {{ background: {_DARK_INPUT}; }}
  {disabled_css("#9aa1ae", _DARK_PANEL, _DARK_BORDER)}
</style>
"""

PROJECTOR_CSS = (
    """
<style>
  :root { --optlab-cursor: #000; --optlab-border: #000; }
  html, body, [data-testid="stAppViewContainer"], [data-testid="stSidebar"] { font-size: 20px; }
  [data-testid="stAppViewContainer"] :is(p, li, label, span, td, th, summary),
  [data-testid="stSidebar"] :is(p, li, label, span) { color: #000 !important; }
  [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {
    color: #222 !important; }
  [data-testid="stWidgetLabel"] p { font-size: 1.05rem !important; font-weight: 600; }
  [data-baseweb="input"], [data-baseweb="select"] > div, [data-baseweb="textarea"],
  """
    + _FIELD_BOXES
    + """ { border: 2px solid #000 !important; }
  input, textarea, [data-baseweb="select"] div { font-size: 1.05rem !important; }
  button[data-testid^="stBaseButton"], [data-testid="stDownloadButton"] button {
    border: 2px solid #000 !important; font-weight: 700; }
  button[data-testid^="stBaseButton"] p { font-size: 1.05rem !important; }
  [data-baseweb="tab"] p { font-size: 1.1rem !important; font-weight: 700; color: #000 !important; }
  [data-baseweb="tab-highlight"] { height: 4px !important; background-color: #000 !important; }
  [data-testid="stExpander"] details, [data-testid="stVerticalBlockBorderWrapper"] {
    border: 2px solid #000 !important; }
  [data-testid="stSidebar"] { border-right: 2px solid #000; }
  .optlab-player { font-size: 1.15rem; }
  .optlab-player-btn { border-width: 2px; border-color: #000; font-weight: 700; }
  .optlab-summary :is(td, th) { font-size: 1.05rem; border-color: #000 !important; }
"""
    + disabled_css("#555555", "#ececec", "#555555")
    + """</style>
"""
)
