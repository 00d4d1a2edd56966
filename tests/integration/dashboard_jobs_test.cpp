// The dashboard of a jobs aggregator, as a newcomer sees it, in a real headless Chromium
// (issue 20, item 7): an aggregator and clients holding the California splits run a
// histogram, a linear regression, a logistic regression and its evaluation. At 1024 and
// 1600 px wide nothing on the page overlaps, the header says what is true, each section
// shows its data, and each job shows its numbers whole and its chart drawn from them.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "support/browser.hpp"
#include "support/california.hpp"

namespace fedmesh::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

// The small pieces of jobs_test.cpp's JobsNetwork this test needs.
constexpr const char* kToken = "dashboard-token-5e21b7";

std::string aggregator_extra(const std::string& jobs_more = "") {
  return "roles = [\"aggregator\"]\n\n[jobs]\nlease = \"5s\"\n" + jobs_more +
         "\n[[jobs.projects]]\nname = \"housing\"\ntoken = \"" + std::string(kToken) + "\"\n";
}

std::string client_extra(int aggregator_port, const std::string& name, const std::string& file) {
  return "roles = [\"client\"]\n\n[jobs]\naggregator = \"https://127.0.0.1:" + std::to_string(aggregator_port) +
         "\"\npoll = \"2s\"\n\n[[jobs.datasources]]\nname = \"" + name + "\"\npath = \"" + california(file) +
         "\"\ntokens = [\"" + kToken + "\"]\n";
}

json artifact(const json& operation, const json& datasources = nullptr) {
  json a = {{"project", "housing"}, {"token", kToken}, {"operation", operation}};
  if (!datasources.is_null()) a["datasources"] = datasources;
  return a;
}

// An aggregator and one client per split given, started and connected.
class Aggregator {
 public:
  Aggregator(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& splits,
             const std::string& jobs_more = "")
      : fed_(dir) {
    fed_.add({"agg", {}, aggregator_extra(jobs_more)});
    for (std::size_t i = 0; i < splits.size(); ++i) {
      std::string name = "c" + std::to_string(i + 1);
      fed_.add({name, {}, client_extra(fed_.fed_port("agg"), splits[i].first, splits[i].second)});
      clients_.push_back(name);
    }
    fed_.start("agg");
    for (const auto& c : clients_) fed_.start(c);
  }
  int api() { return fed_.http_port("agg"); }
  bool connected() {
    return wait_until(
        [&] { return http(api(), "GET", "/api/v1/jobs/clients").json()["clients"].size() == clients_.size(); }, 30s);
  }
  // Submits and waits for the job to end; its final document.
  json run(const json& body) {
    auto r = http(api(), "POST", "/api/v1/jobs", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    std::string id = r.json().value("id", "");
    json job;
    EXPECT_TRUE(wait_until(
        [&] {
          job = http(api(), "GET", "/api/v1/jobs/" + id).json();
          return job.is_object() && (job["state"] == "completed" || job["state"] == "failed");
        },
        90s))
        << job.dump(2);
    EXPECT_EQ(job["state"], "completed") << job.dump(2);
    return job;
  }
  std::string log() { return fed_.process("agg").log(); }

 private:
  Federation fed_;
  std::vector<std::string> clients_;
};

// `text` is one whole number, nothing cut off, equal to `value` to 4 significant digits
// (what the dashboard shows of a number that is not an integer).
::testing::AssertionResult shows(const std::string& text, double value) {
  std::size_t used = 0;
  double shown = 0;
  try {
    shown = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size())
    return ::testing::AssertionFailure() << "'" << text << "' is not one number (" << value << ")";
  double half_unit = value == 0 ? 0 : 0.5 * std::pow(10.0, std::floor(std::log10(std::abs(value))) - 3);
  if (std::abs(shown - value) > half_unit * (1 + 1e-9))
    return ::testing::AssertionFailure() << "'" << text << "' is not " << value << " to 4 significant digits";
  return ::testing::AssertionSuccess();
}

std::string count(const json& v) {
  return std::to_string(v.get<std::int64_t>());
}

// Reads the page through WebDriver: texts and SVG attributes of every element a selector matches.
class Page {
 public:
  explicit Page(Browser& b) : b_(b) {}
  std::vector<std::string> texts(const std::string& css) {
    json v = b_.script("return Array.from(document.querySelectorAll(" + json(css).dump() +
                       "), (e) => e.textContent.trim());");
    return v.is_array() ? v.get<std::vector<std::string>>() : std::vector<std::string>{};
  }
  std::string one(const std::string& css) {
    auto all = texts(css);
    return all.size() == 1 ? all[0] : "<" + std::to_string(all.size()) + " elements match " + css + ">";
  }
  // One number per element: its SVG attribute `name` (NaN where it is not a number).
  std::vector<double> numbers(const std::string& css, const std::string& name) {
    json v = b_.script("return Array.from(document.querySelectorAll(" + json(css).dump() +
                       "), (e) => parseFloat(e.getAttribute(" + json(name).dump() + ")));");
    std::vector<double> out;
    if (v.is_array())
      for (const auto& x : v) out.push_back(x.is_number() ? x.get<double>() : std::nan(""));
    return out;
  }
  std::size_t count(const std::string& css) {
    json v = b_.script("return document.querySelectorAll(" + json(css).dump() + ").length;");
    return v.is_number() ? v.get<std::size_t>() : 0;
  }

 private:
  Browser& b_;
};

// Everything that must not overlap, at the current window size: the sections, the columns
// of the jobs and data grids, the tables and charts in them, the cells' contents, the
// chips of the header and the texts of each chart. An empty list when all is apart.
constexpr const char* kLayoutProblems = R"JS(
const problems = [];
const box = (e) => e.getBoundingClientRect();
const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
  (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : "") +
  (e.dataset && e.dataset.chart ? "[" + e.dataset.chart + "]" : "") +
  (e.tagName.toLowerCase() === "text" ? "'" + e.textContent + "'" : "");
const shown = (e) => { const r = box(e); return r.width > 0 && r.height > 0 && e.checkVisibility(); };
const where = (r) => "[" + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",") + "]";
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                          Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
const within = (c, p) => c.left >= p.left - 1 && c.right <= p.right + 1 && c.top >= p.top - 1 && c.bottom <= p.bottom + 1;
function apart(list) {
  list = [...list].filter(shown);
  for (let i = 0; i < list.length; ++i)
    for (let j = i + 1; j < list.length; ++j)
      if (overlap(box(list[i]), box(list[j])))
        problems.push(name(list[i]) + " " + where(box(list[i])) + " overlaps " + name(list[j]) + " " + where(box(list[j])));
}
function inside(children, parent) {
  for (const c of [...children].filter(shown))
    if (!within(box(c), box(parent)))
      problems.push(name(c) + " " + where(box(c)) + " sticks out of " + name(parent) + " " + where(box(parent)));
}
const q = (css, root) => (root || document).querySelectorAll(css);
if (document.documentElement.scrollWidth > innerWidth)
  problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + innerWidth);
const main = document.querySelector("main");
const sections = q(":scope > section", main);
apart(sections);
inside(sections, main);
for (const s of sections) inside(q("table, figure, dl, pre, .jobs-grid > div, .data-grid > div", s), s);
apart(q(".jobs-grid > div"));
apart(q(".data-grid > div"));
for (const c of q(".jobs-grid > div, .data-grid > div")) inside(q("table, figure, dl", c), c);
apart(q("#job-view > *"));
apart(q("#job-view .chart"));
apart(q("#job-view .figures > div"));
for (const f of q("#job-view .chart")) inside(q("svg, figcaption, p", f), f);
for (const s of q("#job-view svg")) apart(q("text", s));
for (const cell of q("main td, main th"))
  if (shown(cell) && cell.scrollWidth > cell.clientWidth + 1)
    problems.push("in " + name(cell.closest("table")) + ", '" + cell.textContent.slice(0, 40) + "' spills out of its cell: " +
                  cell.scrollWidth + " > " + cell.clientWidth);
apart(q("header .identity, header .facts"));
apart(q("header .chip"));
return problems;
)JS";

std::vector<std::string> layout_problems(Browser& b) {
  json v = b.script(kLayoutProblems);
  if (!v.is_array()) return {"the layout script failed: " + v.dump()};
  return v.get<std::vector<std::string>>();
}

// Sets the window's width (and a height that holds the whole page, for the screenshots).
void resize(Browser& b, int width) {
  b.command("POST", "/window/rect", {{"width", width}, {"height", 1000}});
  json h = b.script("return document.documentElement.scrollHeight;");
  int height = std::clamp(h.is_number() ? h.get<int>() + 200 : 1000, 1000, 6000);
  b.command("POST", "/window/rect", {{"width", width}, {"height", height}});
  b.script("window.scrollTo(0, 0);");
}

// Clicks a job in the jobs table (again if the table was redrawn under the click, so its
// row is not marked selected) until its detail shows `chart`.
::testing::AssertionResult select(Browser& b, const std::string& id, const std::string& chart) {
  std::string link = "#jobs-list a.job[data-id='" + id + "']";
  std::string row = "#jobs-list tr.selected[data-id='" + id + "']";
  std::string drawn = "#job-view figure[data-chart='" + chart + "']";
  bool ok = wait_until(
      [&] {
        if (b.find(row).empty()) b.click(link);
        return b.text("#job-name").rfind(id + " ", 0) == 0 && !b.find(drawn).empty();
      },
      10s);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "job " << id << " shows no " << chart << " chart: " << b.text("#jobs");
}

// The values mapped to positions lie on one line (a chart's scale), rising or falling as asked.
::testing::AssertionResult linear(const std::vector<double>& values, const std::vector<double>& positions,
                                  bool rising) {
  if (values.size() != positions.size() || values.size() < 2)
    return ::testing::AssertionFailure() << values.size() << " values, " << positions.size() << " positions";
  std::size_t far = 1;
  for (std::size_t i = 1; i < values.size(); ++i)
    if (std::abs(values[i] - values[0]) > std::abs(values[far] - values[0])) far = i;
  double slope = (positions[far] - positions[0]) / (values[far] - values[0]);
  if ((slope > 0) != rising) return ::testing::AssertionFailure() << "the scale runs the wrong way: " << slope;
  for (std::size_t i = 0; i < values.size(); ++i) {
    double expected = positions[0] + slope * (values[i] - values[0]);
    if (std::abs(positions[i] - expected) > 0.05)
      return ::testing::AssertionFailure()
             << "value " << values[i] << " is at " << positions[i] << ", not " << expected;
  }
  return ::testing::AssertionSuccess();
}

// What the jobs table's Result column says of a job, as a pattern over its whole text.
void expect_row(Page& page, const json& job, const std::string& kind, const std::string& round) {
  std::string row = "#jobs-list tr[data-id='" + job["id"].get<std::string>() + "'] td";
  auto cells = page.texts(row);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0], job["id"].get<std::string>());
  EXPECT_EQ(cells[1], "housing");
  EXPECT_EQ(cells[2], kind);
  EXPECT_EQ(cells[3], "completed");
  EXPECT_EQ(cells[4], round);
}

// The tasks table: one row per datasource, its rounds done, state and attempts, exactly.
void expect_tasks(Page& page, const json& job) {
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> by;  // done, attempts
  for (const auto& t : job["tasks"]) {
    auto& e = by[{t["client"], t["datasource"]}];
    e.first += t["state"] == "done" ? 1 : 0;
    e.second += t["attempts"].get<int>();
  }
  std::vector<std::string> expected;
  for (const auto& [key, v] : by) {
    for (const std::string& cell : {key.first, key.second, std::to_string(v.first) + "/" + count(job["rounds"]),
                                    std::string("done"), std::to_string(v.second)})
      expected.push_back(cell);
  }
  auto shown = page.texts("#job-tasks tbody td");
  EXPECT_EQ(shown, expected);
  // And the result as JSON, whole, for whoever wants it.
  EXPECT_EQ(json::parse(page.one("#job-result"), nullptr, false), job["result"]);
}

std::string figure_of(const std::string& key) {
  return "#job-view .figures [data-key='" + key + "'] dd";
}

void check_histogram(Browser& b, Page& page, const json& job) {
  const json& r = job["result"];
  ASSERT_TRUE(select(b, job["id"], "histogram"));
  std::string chart = "#job-view figure[data-chart='histogram'] ";
  EXPECT_EQ(page.one(chart + "figcaption"), "Histogram of MedInc");
  std::vector<std::string> counts, edges = {"0", "2", "4", "6", "8", "16"};
  long total = 0;
  for (const auto& c : r["counts"]) counts.push_back(count(c)), total += c.get<long>();
  EXPECT_EQ(page.count(chart + "rect.bar"), 5u);
  EXPECT_EQ(page.texts(chart + "text.value"), counts);
  EXPECT_EQ(page.texts(chart + "text.edge"), edges);
  // Each bar's height is its count on one scale, from one baseline.
  auto heights = page.numbers(chart + "rect.bar", "height");
  std::vector<double> values;
  for (const auto& c : r["counts"]) values.push_back(c.get<double>());
  EXPECT_TRUE(linear(values, heights, true));
  auto bottoms = page.numbers(chart + "rect.bar", "y");
  for (std::size_t i = 0; i < bottoms.size() && i < heights.size(); ++i)
    EXPECT_NEAR(bottoms[i] + heights[i], bottoms[0] + heights[0], 1e-6);
  EXPECT_EQ(page.one(figure_of("values")), std::to_string(total));
  EXPECT_EQ(page.one(figure_of("below")), count(r["below"]));
  EXPECT_EQ(page.one(figure_of("above")), count(r["above"]));
  EXPECT_EQ(page.one("#jobs-list tr[data-id='" + job["id"].get<std::string>() + "'] td.job-summary"),
            std::to_string(total) + " values in 5 bins");
  expect_tasks(page, job);
}

// The coefficients chart: one bar per feature in the operation's order, each bar's length
// its coefficient on one scale from the zero line, and the value written beside it.
void check_coefficients(Page& page, const json& coefficients) {
  std::string chart = "#job-view figure[data-chart='coefficients'] ";
  EXPECT_EQ(page.texts(chart + "text.label"), kFeatures);
  auto values = page.texts(chart + "text.value");
  ASSERT_EQ(values.size(), kFeatures.size());
  auto x = page.numbers(chart + "rect.bar", "x");
  auto width = page.numbers(chart + "rect.bar", "width");
  ASSERT_EQ(x.size(), kFeatures.size());
  double zero = page.numbers(chart + "line.axis-line", "x1").at(0);
  std::vector<double> coefs, ends;
  for (std::size_t i = 0; i < kFeatures.size(); ++i) {
    double c = coefficients[kFeatures[i]].get<double>();
    EXPECT_TRUE(shows(values[i], c)) << kFeatures[i];
    coefs.push_back(c);
    bool left = std::abs(x[i] + width[i] - zero) < 1e-6, right = std::abs(x[i] - zero) < 1e-6;
    EXPECT_TRUE(c < 0 ? left : right) << kFeatures[i] << " " << c;
    ends.push_back(c < 0 ? x[i] : x[i] + width[i]);
  }
  EXPECT_TRUE(linear(coefs, ends, true));
}

void check_linear_regression(Browser& b, Page& page, const json& job) {
  const json& r = job["result"];
  ASSERT_TRUE(select(b, job["id"], "coefficients"));
  EXPECT_EQ(page.one("#job-view figure[data-chart='coefficients'] figcaption"),
            "Coefficients for Latitude (per unit of each column)");
  check_coefficients(page, r["coefficients"]);
  EXPECT_TRUE(shows(page.one(figure_of("r2")), r["r2"]));
  EXPECT_EQ(page.one(figure_of("n")), count(r["n"]));
  EXPECT_TRUE(shows(page.one(figure_of("intercept")), r["coefficients"]["intercept"]));
  std::smatch m;
  std::string summary = page.one("#jobs-list tr[data-id='" + job["id"].get<std::string>() + "'] td.job-summary");
  ASSERT_TRUE(std::regex_match(summary, m, std::regex("R² (\\S+) over (\\d+) rows"))) << summary;
  EXPECT_TRUE(shows(m[1].str(), r["r2"]));
  EXPECT_EQ(m[2].str(), count(r["n"]));
  expect_tasks(page, job);
}

// A per-round chart: one point per round on one scale, the last value written.
void check_rounds(Page& page, const std::string& kind, const json& series) {
  std::string chart = "#job-view figure[data-chart='" + kind + "'] ";
  std::vector<double> values = series.get<std::vector<double>>();
  EXPECT_EQ(page.count(chart + "circle.point"), values.size()) << kind;
  EXPECT_TRUE(linear(values, page.numbers(chart + "circle.point", "cy"), false)) << kind;
  auto xs = page.numbers(chart + "circle.point", "cx");
  EXPECT_TRUE(std::is_sorted(xs.begin(), xs.end())) << kind;
  EXPECT_TRUE(shows(page.one(chart + "text.value"), values.back())) << kind;
  auto rounds = page.texts(chart + "text.edge");
  EXPECT_FALSE(rounds.empty());
  EXPECT_EQ(rounds.back(), std::to_string(values.size())) << kind;
}

void check_logistic_regression(Browser& b, Page& page, const json& job) {
  const json& r = job["result"];
  ASSERT_TRUE(select(b, job["id"], "loss"));
  check_coefficients(page, r["coefficients"]);
  check_rounds(page, "loss", r["loss"]);
  check_rounds(page, "accuracy", r["accuracy"]);
  EXPECT_EQ(page.one("#job-view figure[data-chart='loss'] figcaption"), "Log-loss per round");
  EXPECT_EQ(page.one(figure_of("n")), count(r["n"]));
  EXPECT_EQ(page.one(figure_of("rounds")), "20");
  EXPECT_TRUE(shows(page.one(figure_of("intercept")), r["coefficients"]["intercept"]));
  EXPECT_TRUE(shows(page.one(figure_of("loss")), r["loss"].back()));
  EXPECT_TRUE(shows(page.one(figure_of("accuracy")), r["accuracy"].back()));
  std::smatch m;
  std::string summary = page.one("#jobs-list tr[data-id='" + job["id"].get<std::string>() + "'] td.job-summary");
  ASSERT_TRUE(std::regex_match(summary, m, std::regex("training accuracy (\\S+) after 20 rounds"))) << summary;
  EXPECT_TRUE(shows(m[1].str(), r["accuracy"].back()));
  expect_tasks(page, job);
}

// The ROC chart's point at threshold 0.5, read back through the chance line's ends
// (0,0) and (1,1): {fpr, tpr}.
std::pair<double, double> roc_point(Page& page) {
  std::string chart = "#job-view figure[data-chart='roc'] ";
  auto x1 = page.numbers(chart + "line.chance", "x1"), y1 = page.numbers(chart + "line.chance", "y1");
  auto x2 = page.numbers(chart + "line.chance", "x2"), y2 = page.numbers(chart + "line.chance", "y2");
  auto cx = page.numbers(chart + "circle.point", "cx"), cy = page.numbers(chart + "circle.point", "cy");
  if (x1.size() != 1 || cx.size() != 1) return {-1, -1};
  return {(cx[0] - x1[0]) / (x2[0] - x1[0]), (y1[0] - cy[0]) / (y1[0] - y2[0])};
}

void check_evaluate(Browser& b, Page& page, const json& job, double fpr) {
  const json& r = job["result"];
  ASSERT_TRUE(select(b, job["id"], "roc"));
  std::string chart = "#job-view figure[data-chart='roc'] ";
  std::smatch m;
  std::string caption = page.one(chart + "figcaption");
  ASSERT_TRUE(std::regex_match(caption, m, std::regex("ROC · AUC (\\S+)"))) << caption;
  EXPECT_TRUE(shows(m[1].str(), r["auc"]));
  EXPECT_EQ(page.count(chart + "circle.point"), 1u);
  auto [x, y] = roc_point(page);
  EXPECT_NEAR(x, fpr, 1e-9);
  EXPECT_NEAR(y, r["recall"].get<double>(), 1e-9);
  std::string tpr = page.one(chart + "tspan.tpr"), fpr_text = page.one(chart + "tspan.fpr");
  ASSERT_EQ(tpr.rfind("TPR ", 0), 0u) << tpr;
  ASSERT_EQ(fpr_text.rfind("FPR ", 0), 0u) << fpr_text;
  EXPECT_TRUE(shows(tpr.substr(4), r["recall"]));
  EXPECT_TRUE(shows(fpr_text.substr(4), fpr));
  // The scores as bars on 0..1.
  std::string metrics = "#job-view figure[data-chart='metrics'] ";
  EXPECT_EQ(page.one(metrics + "figcaption"), "Scores on validation");
  EXPECT_EQ(page.texts(metrics + "text.label"), (std::vector<std::string>{"accuracy", "precision", "recall", "AUC"}));
  auto values = page.texts(metrics + "text.value");
  ASSERT_EQ(values.size(), 4u);
  std::vector<double> scores;
  for (const char* k : {"accuracy", "precision", "recall", "auc"}) scores.push_back(r[k].get<double>());
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(shows(values[i], scores[i])) << i;
  EXPECT_TRUE(linear(scores, page.numbers(metrics + "rect.bar", "width"), true));
  EXPECT_EQ(page.one(figure_of("n")), count(r["n"]));
  for (const char* k : {"accuracy", "precision", "recall", "auc"})
    EXPECT_TRUE(shows(page.one(figure_of(k)), r[k])) << k;
  std::string summary = page.one("#jobs-list tr[data-id='" + job["id"].get<std::string>() + "'] td.job-summary");
  ASSERT_TRUE(std::regex_match(summary, m, std::regex("AUC (\\S+), accuracy (\\S+) on (\\d+) rows"))) << summary;
  EXPECT_TRUE(shows(m[1].str(), r["auc"]));
  EXPECT_TRUE(shows(m[2].str(), r["accuracy"]));
  EXPECT_EQ(m[3].str(), count(r["n"]));
  expect_tasks(page, job);
}

// The false positive rate at threshold 0.5 from the metrics (what the chart derives when
// the score bins stay at the aggregator): recall and precision give the predicted and
// actual positives per true positive, accuracy and n the rest. The counts come out whole.
double fpr_from_metrics(const json& r) {
  double n = r["n"], acc = r["accuracy"], precision = r["precision"], recall = r["recall"];
  double tp = n * (1 - acc) / (1 / precision + 1 / recall - 2);
  double fp = tp / precision - tp, tn = n * acc - tp;
  EXPECT_NEAR(tp, std::round(tp), 1e-6);
  EXPECT_NEAR(fp, std::round(fp), 1e-6);
  EXPECT_NEAR(tn, std::round(tn), 1e-6);
  return fp / (fp + tn);
}

TEST(DashboardJobs, AnAggregatorsPageReadsWellAt1024And1600PixelsWithChartsAndWholeNumbers) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"))
      << "install chromium and chromium-driver (make deps)";
  TempDir dir;
  Aggregator agg(dir, kSplits);
  ASSERT_TRUE(agg.connected()) << agg.log();
  json histogram = agg.run(artifact({{"kind", "histogram"}, {"column", "MedInc"}, {"bins", {0, 2, 4, 6, 8, 16}}}));
  json linear_regression =
      agg.run(artifact({{"kind", "linear_regression"}, {"target", "Latitude"}, {"features", kFeatures}}));
  json logistic = agg.run(artifact({{"kind", "logistic_regression"},
                                    {"target", "MedHouseValDiscrete"},
                                    {"features", kFeatures},
                                    {"rounds", 20},
                                    {"learning_rate", 0.5}},
                                   {"medinc1", "medinc2"}));
  json evaluate = agg.run(artifact({{"kind", "evaluate"}, {"model", logistic["id"]}, {"datasource", "validation"}}));
  for (const json* job : {&histogram, &linear_regression, &logistic, &evaluate})
    ASSERT_EQ((*job)["state"], "completed") << job->dump(2);
  json clients = http(agg.api(), "GET", "/api/v1/jobs/clients").json()["clients"];
  ASSERT_EQ(clients.size(), 3u);
  double fpr = fpr_from_metrics(evaluate["result"]);

  Browser b(dir);
  ASSERT_TRUE(b.ok()) << b.error() << read_file(dir / "chromedriver.log");
  Page page(b);
  for (int width : {1024, 1600}) {
    SCOPED_TRACE("window width " + std::to_string(width));
    b.command("POST", "/window/rect", {{"width", width}, {"height", 1000}});
    b.open("http://127.0.0.1:" + std::to_string(agg.api()) + "/");
    ASSERT_EQ(b.script("return innerWidth;"), width);
    ASSERT_TRUE(wait_until([&] { return page.count("#jobs-list tbody tr[data-id]") == 4; }, 10s)) << b.text("#jobs");

    // The header says what is true: no federation peers, three jobs clients.
    EXPECT_TRUE(wait_until([&] { return b.text("#node-peers") == "no federation peers"; }, 5s)) << b.text("header");
    EXPECT_EQ(b.text("#node-jobs"), "3 jobs clients");
    EXPECT_EQ(b.text("#jobs-summary"), "3 clients, 4 jobs");
    // Each section shows its data: no peers, no shared data, the clients and the jobs.
    EXPECT_EQ(page.one("#peers tbody"), "No peers.");
    EXPECT_EQ(page.one("#data-collections tbody"), "No shared data yet.");
    std::vector<std::string> expected_clients;
    for (const auto& c : clients) {
      const json& d = c["datasources"][0];
      expected_clients.insert(expected_clients.end(),
                              {c["name"].get<std::string>(), c["organization"].get<std::string>(),
                               d["name"].get<std::string>() + " " + count(d["rows"]) + " rows, " +
                                   std::to_string(d["columns"].size()) + " columns housing"});
    }
    EXPECT_EQ(page.texts("#jobs-clients tbody td"), expected_clients);
    expect_row(page, histogram, "histogram", "1/1");
    expect_row(page, linear_regression, "linear_regression", "1/1");
    expect_row(page, logistic, "logistic_regression", "21/21");
    expect_row(page, evaluate, "evaluate", "1/1");
    EXPECT_EQ(
        page.texts("#jobs-list tbody tr a.job"),
        (std::vector<std::string>{evaluate["id"].get<std::string>(), logistic["id"].get<std::string>(),
                                  linear_regression["id"].get<std::string>(), histogram["id"].get<std::string>()}))
        << "newest first";

    // Each job: its chart drawn from its numbers, and nothing overlapping with it shown.
    const std::string w = std::to_string(width);
    check_histogram(b, page, histogram);
    resize(b, width);
    EXPECT_EQ(layout_problems(b), std::vector<std::string>{}) << "histogram";
    b.screenshot("dashboard-jobs-histogram-" + w + ".png");
    check_linear_regression(b, page, linear_regression);
    resize(b, width);
    EXPECT_EQ(layout_problems(b), std::vector<std::string>{}) << "linear_regression";
    b.screenshot("dashboard-jobs-linear-" + w + ".png");
    check_logistic_regression(b, page, logistic);
    resize(b, width);
    EXPECT_EQ(layout_problems(b), std::vector<std::string>{}) << "logistic_regression";
    b.screenshot("dashboard-jobs-logistic-" + w + ".png");
    check_evaluate(b, page, evaluate, fpr);
    // Without the score bins (partial results stay at the aggregator) no curve is drawn,
    // and the chart says why.
    EXPECT_EQ(page.count("#job-view figure[data-chart='roc'] polyline"), 0u);
    EXPECT_EQ(page.one("#job-view figure[data-chart='roc'] p.note"),
              "The point at threshold 0.5. The curve needs the score bins, which stay at the aggregator unless "
              "jobs.allow_partial_results is on.");
    resize(b, width);
    EXPECT_EQ(layout_problems(b), std::vector<std::string>{}) << "evaluate";
    std::cout << "dashboard screenshot: " << b.screenshot("dashboard-jobs-evaluate-" + w + ".png") << "\n";
  }
}

TEST(DashboardJobs, TheRocCurveIsDrawnFromTheScoreBinsWhenTheAggregatorShowsPartialResults) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromedriver") && fs::exists("/usr/bin/chromium"));
  TempDir dir;
  Aggregator agg(dir, {kSplits[0], kSplits[2]}, "allow_partial_results = true\n");
  ASSERT_TRUE(agg.connected()) << agg.log();
  json logistic = agg.run(artifact(
      {{"kind", "logistic_regression"}, {"target", "MedHouseValDiscrete"}, {"features", kFeatures}, {"rounds", 5}},
      {"medinc1"}));
  json evaluate = agg.run(artifact({{"kind", "evaluate"}, {"model", logistic["id"]}, {"datasource", "validation"}}));
  ASSERT_EQ(evaluate["state"], "completed") << evaluate.dump(2);
  ASSERT_EQ(evaluate["tasks"].size(), 1u);
  const json& partial = evaluate["tasks"][0]["result"];
  ASSERT_TRUE(partial.is_object()) << evaluate.dump(2);
  double fp = partial["fp"], tn = partial["tn"];

  Browser b(dir);
  ASSERT_TRUE(b.ok()) << b.error();
  Page page(b);
  b.command("POST", "/window/rect", {{"width", 1024}, {"height", 1000}});
  b.open("http://127.0.0.1:" + std::to_string(agg.api()) + "/");
  ASSERT_TRUE(wait_until([&] { return page.count("#jobs-list tbody tr[data-id]") == 2; }, 10s)) << b.text("#jobs");
  EXPECT_EQ(b.text("#node-jobs"), "2 jobs clients");
  // The operating point from the exact counts; the curve through every non-empty score bin.
  check_evaluate(b, page, evaluate, fp / (fp + tn));
  std::size_t bins = 0;
  for (std::size_t i = 0; i < partial["pos"].size(); ++i)
    bins += partial["pos"][i].get<int>() + partial["neg"][i].get<int>() > 0 ? 1 : 0;
  json curve = b.script(
      "const c = document.querySelector(\"#job-view figure[data-chart='roc'] line.chance\");"
      "const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => parseFloat(c.getAttribute(a)));"
      "const l = document.querySelector(\"#job-view figure[data-chart='roc'] polyline.roc-curve\");"
      "return l ? l.getAttribute('points').trim().split(/\\s+/).map((p) => p.split(',').map(Number))"
      "  .map(([x, y]) => [(x - x1) / (x2 - x1), (y1 - y) / (y1 - y2)]) : null;");
  ASSERT_TRUE(curve.is_array()) << curve;
  ASSERT_EQ(curve.size(), bins + 1);
  EXPECT_NEAR(curve.front()[0].get<double>(), 0, 1e-9);
  EXPECT_NEAR(curve.back()[0].get<double>(), 1, 1e-9);
  EXPECT_NEAR(curve.back()[1].get<double>(), 1, 1e-9);
  // The area under the drawn curve is the AUC the aggregator computed (pairs in one bin count half).
  double area = 0;
  for (std::size_t i = 1; i < curve.size(); ++i)
    area += (curve[i][0].get<double>() - curve[i - 1][0].get<double>()) *
            (curve[i][1].get<double>() + curve[i - 1][1].get<double>()) / 2;
  EXPECT_NEAR(area, evaluate["result"]["auc"].get<double>(), 1e-9);
  EXPECT_EQ(page.count("#job-view figure[data-chart='roc'] p.note"), 0u);
  resize(b, 1024);
  EXPECT_EQ(layout_problems(b), std::vector<std::string>{});
  b.screenshot("dashboard-jobs-roc-curve-1024.png");
}

}  // namespace
}  // namespace fedmesh::testing
