// MathJax 3 for pymdownx.arithmatex's generic output: \( ... \) inline, \[ ... \] display,
// typeset only inside the .arithmatex spans and divs. tex-svg.js is served from this site.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
