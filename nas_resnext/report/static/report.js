// The report page's behaviour. Everything it shows comes from the two JSON blocks (report-data: the
// trials, once; report-figures: the Plotly figures) and reaches the page as text (textContent, or
// HTML-escaped for Plotly's hover labels), never as markup.
(function () {
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var FIGURES = JSON.parse(document.getElementById("report-figures").textContent);
  function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  // Hover rows are built once and shared by every trace that shows the trial.
  var hoverRows = DATA.rows.map(function (r) {
    return r.map(function (v) { return v === null ? "–" : (typeof v === "string" ? esc(v) : v); });
  });
  FIGURES.forEach(function (fig) {
    fig.data.forEach(function (trace) {
      if (trace.meta && trace.meta.rows) {
        trace.customdata = trace.meta.rows.map(function (i) { return i === null ? null : hoverRows[i]; });
      }
    });
    Plotly.newPlot(fig.id, fig.data, fig.layout, {responsive: true, displaylogo: false});
  });
  var table = document.getElementById("trials");
  var order = DATA.order.slice();
  var head = table.createTHead().insertRow();
  DATA.columns.forEach(function (name, c) {
    var th = document.createElement("th");
    th.textContent = name;
    th.title = "sort";
    th.addEventListener("click", function () { sortBy(c); });
    head.appendChild(th);
  });
  var body = table.createTBody();
  var sorted = {column: -1, descending: false};
  function cell(v) { return v === null ? "" : (v === true ? "★" : (v === false ? "" : String(v))); }
  // A copy names the trial whose outcome it repeats; the CSV keeps the bare number, as trials.csv does.
  function shown(v, c) { return c === DATA.copy && v !== null ? "= trial " + v : cell(v); }
  // A page of rows at a time: laying out every row of a 10,000-trial table would stall the browser.
  var PAGE = 200, first = 0;
  var prev = document.getElementById("page-prev"), next = document.getElementById("page-next");
  prev.addEventListener("click", function () { first = Math.max(0, first - PAGE); draw(); });
  next.addEventListener("click", function () { first = Math.min(first + PAGE, order.length - 1); draw(); });
  function draw() {
    var fragment = document.createDocumentFragment();
    order.slice(first, first + PAGE).forEach(function (i) {
      var row = DATA.rows[i], tr = document.createElement("tr");
      if (row[DATA.pareto]) tr.className = "front";
      if (row[DATA.copy] !== null) tr.className = "copy";
      row.forEach(function (v, c) {
        var td = document.createElement("td");
        td.textContent = shown(v, c);
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    });
    body.replaceChildren(fragment);
    var last = Math.min(first + PAGE, order.length);
    document.getElementById("page-range").textContent =
      "rows " + (order.length ? first + 1 : 0) + "–" + last + " of " + order.length;
    prev.disabled = first === 0;
    next.disabled = last >= order.length;
  }
  function sortBy(c) {
    var descending = sorted.column === c ? !sorted.descending : false;
    sorted = {column: c, descending: descending};
    first = 0;
    order.sort(function (a, b) {
      var x = DATA.rows[a][c], y = DATA.rows[b][c];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var less = typeof x === "number" && typeof y === "number" ? x < y : String(x) < String(y);
      return (less ? -1 : 1) * (descending ? -1 : 1);
    });
    draw();
  }
  draw();
  document.getElementById("csv").addEventListener("click", function (event) {
    function quote(v) {
      var s = cell(v === true ? "True" : v);
      return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }
    var lines = [DATA.keys.join(",")].concat(DATA.order.map(function (i) {
      return DATA.rows[i].map(quote).join(",");
    }));
    event.currentTarget.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], {type: "text/csv"}));
  });
})();
