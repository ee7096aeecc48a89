// Atomic's dashboard: every number comes from /v1/dashboard/… with the viewer's key.
const $ = (selector) => document.querySelector(selector);
const KEY = "atomic-dashboard-key";
const seen = new Set();
let learningPlot = null;
let taskChosen = false;

function takeKeyFromUrl() {
  // `#key=…` is the way to pass a key: a fragment never reaches the server or its access log.
  // `?key=…` works too. Either is moved to sessionStorage and dropped from the address.
  const url = new URL(location.href);
  const fromHash = new URLSearchParams(url.hash.slice(1)).get("key");
  const key = fromHash ?? url.searchParams.get("key");
  if (key !== null) {
    sessionStorage.setItem(KEY, key);
    url.searchParams.delete("key");
    history.replaceState(null, "", url.pathname + url.search);
  }
}

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const problem = await response.json();
      detail = [problem.detail || problem.title, problem.hint].filter(Boolean).join(" — ");
    } catch (_) { /* not a problem document */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

const money = (usd) => (usd == null ? "–" : usd === 0 ? "$0" : `$${usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(4)}`);
const pct = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)}%`);
const ms = (x) => (x == null ? "–" : `${Math.round(x).toLocaleString()} ms`);
const text = (tag, content, cls) => {
  const node = document.createElement(tag);
  node.textContent = content;
  if (cls) node.className = cls;
  return node;
};

// --- the live tape ------------------------------------------------------------------------
function addToTape(entry) {
  if (seen.has(entry.run_id)) return;
  seen.add(entry.run_id);
  if (!taskChosen) {
    // Until the viewer picks, the learning and what-if panels show the first task that ran.
    taskChosen = true;
    $("#learning-task").value = entry.task;
    $("#whatif-task").value = entry.task;
  }
  const row = document.createElement("tr");
  row.dataset.runId = entry.run_id;
  row.className = "fresh";
  const bids = entry.bids
    .map((b) => `${b.model_id} ${b.p_success.toFixed(2)} · ${money(b.cost_usd)} · ${ms(b.latency_p50_ms)}`)
    .join("\n");
  row.append(
    text("td", new Date(entry.created_at).toLocaleTimeString()),
    text("td", entry.task),
    text("td", entry.winner ?? `refused (${entry.status})`),
    text("td", bids),
    text("td", entry.margin == null ? "–" : entry.margin.toPrecision(3)),
    text("td", entry.exclusions.join("\n") || "–"),
    text("td", entry.why, "why"),
  );
  row.querySelectorAll("td")[3].style.whiteSpace = "pre";
  row.addEventListener("click", () => openRun(entry.run_id));
  const body = $("#tape tbody");
  body.prepend(row);
  while (body.rows.length > 200) body.deleteRow(-1);
}

async function openRun(runId) {
  const view = await api(`/v1/dashboard/runs/${encodeURIComponent(runId)}`);
  $("#run-id").textContent = runId;
  $("#run-why").textContent = view.entry.why;
  $("#explanation").textContent = view.explanation;
  $("#run-panel").hidden = false;
  $("#run-panel").scrollIntoView({ block: "nearest" });
}

// Server-Sent Events over fetch (EventSource cannot send an Authorization header).
async function follow() {
  for (;;) {
    try {
      const response = await fetch("/v1/dashboard/feed?backlog=50", { headers: headers() });
      if (!response.ok) throw new Error(`the live feed answered ${response.status}`);
      $("#live").textContent = "feed: live";
      $("#live").className = "on";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = message.split("\n");
          const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim();
          const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          if (event === "run" && data) {
            addToTape(JSON.parse(data));
            scheduleRefresh();
          }
        }
      }
    } catch (error) {
      showError(`Live feed: ${error.message}. Retrying…`);
    }
    $("#live").textContent = "feed: reconnecting…";
    $("#live").className = "off";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// --- the panels that summarise ---------------------------------------------------------------
async function refreshStats() {
  const data = await api(`/v1/dashboard/stats?window_s=${$("#window").value}`);
  const body = $("#stats tbody");
  body.replaceChildren(
    ...data.rows.map((r) => {
      const row = document.createElement("tr");
      row.append(
        text("td", r.task), text("td", r.model), text("td", pct(r.win_share)),
        text("td", r.runs), text("td", `${pct(r.correctness)} (${r.feedback})`),
        text("td", pct(r.validity)), text("td", money(r.mean_cost_usd)),
        text("td", `${ms(r.latency_p50_ms)} / ${ms(r.latency_p95_ms)}`),
        text("td", r.failures), text("td", r.cascades),
      );
      return row;
    }),
  );
}

async function refreshLearning() {
  const task = $("#learning-task").value;
  if (!task) return;
  const data = await api(`/v1/dashboard/learning?task=${encodeURIComponent(task)}&window_s=${$("#window").value}`);
  const s = data.series;
  const c = data.classifier;
  $("#classifier").textContent =
    (c ? `Classifier ${c.model_id} v${c.version}, trained on ${c.trained_on}, held-out accuracy ${pct(c.heldout_accuracy)} (${c.heldout_judgements} judged). ` : "No learned classifier. ") +
    (s.expensive ? `Dearest model (by ${s.expensive_by}): ${s.expensive}.` : "");
  if (window.atomicChartsMissing || typeof uPlot === "undefined") return;
  const data_ = [s.t, s.correctness, s.expensive_share, s.cost];
  if (learningPlot) {
    learningPlot.setData(data_);
    return;
  }
  const width = $("#learning-chart").clientWidth || 500;
  learningPlot = new uPlot(
    {
      width, height: 220,
      scales: { share: { range: [0, 1] }, usd: {} },
      series: [
        {},
        { label: "rolling correctness", scale: "share", stroke: "#067647", width: 2, value: (_, v) => pct(v) },
        { label: "dearest model's share", scale: "share", stroke: "#b54708", value: (_, v) => pct(v) },
        { label: "cost per call", scale: "usd", stroke: "#2463eb", width: 2, value: (_, v) => money(v) },
      ],
      axes: [{}, { scale: "share", size: 60, values: (_, ticks) => ticks.map(pct) }, { scale: "usd", side: 1, size: 70, values: (_, ticks) => ticks.map(money) }],
    },
    data_,
    $("#learning-chart"),
  );
}

async function refreshBudgets() {
  const data = await api("/v1/dashboard/budgets");
  const box = $("#budgets");
  const lines = data.budgets.map((b) => {
    const share = b.budget_usd ? Math.min(b.spent_usd / b.budget_usd, 1) : 0;
    const row = text("div", `${b.task}: ${money(b.spent_usd)} of ${money(b.budget_usd)} per ${b.window_s / 3600} h, pacing × ${b.multiplier.toFixed(3)} `);
    const bar = text("span", "", "bar");
    bar.style.width = `${Math.round(120 * share)}px`;
    row.append(bar);
    return row;
  });
  if (data.key_budget_left_usd != null) lines.push(text("div", `This key has ${money(data.key_budget_left_usd)} left.`));
  box.replaceChildren(...(lines.length ? lines : [text("p", "No budget is configured for this tenant's tasks.", "hint")]));
}

async function whatIf(event) {
  event?.preventDefault();
  const task = $("#whatif-task").value;
  const objective = $("#whatif-objective").value;
  const number = $("#whatif-number").value;
  const param = { utility: "value", min_cost: "floor", max_quality: "max_cost" }[objective];
  const query = new URLSearchParams({ task, objective, window_s: "604800" });
  if (number !== "") query.set(param, number);
  const budget = $("#whatif-budget").value;
  if (budget !== "") query.set("budget_usd", budget);
  const box = $("#whatif");
  try {
    const r = await api(`/v1/dashboard/whatif?${query}`);
    const estimate = (e, format) => (e && e.snips != null ? `${format(e.snips)} ± ${format(e.snips_stderr ?? 0)}` : "no agreeing run");
    box.replaceChildren(
      text("p", `On ${r.runs} logged runs (${r.judged} with feedback): logged correctness ${pct(r.logged_correctness)}, cost ${money(r.logged_cost_usd)} per call.`),
      text("p", `Under ${objective}${budget !== "" ? ` with $${budget} a day` : ""}: correctness ${estimate(r.correctness, pct)}, cost ${estimate(r.cost, money)} per call; effective n ${r.cost ? r.cost.effective_n.toFixed(1) : "0"} of ${r.cost ? r.cost.n : 0}.`),
      errorBar(r.correctness),
    );
  } catch (error) {
    box.replaceChildren(text("p", `What-if failed: ${error.message}`));
  }
}

function errorBar(e) {
  // The correctness estimate on [0, 1] with ± one standard error as a whisker.
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", "320");
  svg.setAttribute("height", "28");
  if (!e || e.snips == null) return svg;
  const x = (v) => 10 + 300 * Math.max(0, Math.min(1, v));
  const lo = x(e.snips - (e.snips_stderr ?? 0));
  const hi = x(e.snips + (e.snips_stderr ?? 0));
  svg.innerHTML = `<line x1="10" x2="310" y1="20" y2="20" stroke="#ccc"/>
    <line x1="${lo}" x2="${hi}" y1="12" y2="12" stroke="#2463eb" stroke-width="2"/>
    <circle cx="${x(e.snips)}" cy="12" r="4" fill="#2463eb"/>`;
  return svg;
}

let pending = null;
function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    await refreshAll();
  }, 1500);
}

async function refreshAll() {
  try {
    await Promise.all([refreshStats(), refreshLearning(), refreshBudgets()]);
  } catch (error) {
    showError(error.message);
  }
}

async function start() {
  takeKeyFromUrl();
  if (window.atomicChartsMissing || typeof uPlot === "undefined") $("#charts-missing").hidden = false;
  let overview;
  try {
    overview = await api("/v1/dashboard/overview");
  } catch (error) {
    showError(error.status === 401 ? "This server needs an API key: enter one below." : error.message);
    $("#login").hidden = false;
    return;
  }
  $("#who").textContent = `tenant ${overview.tenant}${overview.admin ? " (admin)" : ""}`;
  for (const select of [$("#learning-task"), $("#whatif-task")]) {
    select.replaceChildren(...overview.tasks.map((name) => text("option", name)));
  }
  $("#window").addEventListener("change", refreshAll);
  $("#learning-task").addEventListener("change", () => {
    taskChosen = true;
    refreshLearning();
  });
  $("#whatif-form").addEventListener("submit", whatIf);
  $("#run-close").addEventListener("click", () => ($("#run-panel").hidden = true));
  document.body.dataset.ready = "1";
  follow();
  await refreshAll();
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("#key").value.trim());
  location.reload();
});
start();
