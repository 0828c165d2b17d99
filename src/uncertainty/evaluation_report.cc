// Rendering of EvaluationReport: text for people, JSON for scripts, gnuplot for the
// reliability diagram.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "json/writer.h"
#include "uncertainty/evaluation.h"

namespace ferry {
namespace {

std::string QualityJson(const ProbabilityQuality& q) {
  std::string bins;
  for (const ReliabilityBin& b : q.bins) {
    absl::StrAppend(&bins, bins.empty() ? "" : ", ", "{\"lower\": ", JsonNumber(b.lower),
                    ", \"upper\": ", JsonNumber(b.upper), ", \"count\": ", b.count,
                    ", \"confidence\": ", JsonNumber(b.mean_confidence), ", \"accuracy\": ",
                    JsonNumber(b.accuracy), "}");
  }
  return absl::StrCat("{\"accuracy\": ", JsonNumber(q.accuracy), ", \"nll\": ", JsonNumber(q.nll),
                      ", \"ece\": ", JsonNumber(q.ece), ", \"bins\": [", bins, "]}");
}

std::string Threshold(double t) { return std::isinf(t) ? "inf" : absl::StrFormat("%.4f", t); }

// A model's compute in microseconds per row evaluated (not per row it computed).
double UsPerRowEvaluated(const EvaluationReport::ModelCompute& m, int64_t rows) {
  return rows > 0 ? m.ns / rows / 1e3 : 0.0;
}

}  // namespace

std::string RenderEvaluationText(const EvaluationReport& r) {
  std::string out = absl::StrFormat("%s on %d rows, %d classes\n\n", r.predictor, r.rows, r.classes);
  absl::StrAppendFormat(&out, "%-22s %12s %12s\n", "probabilities", "before T",
                        absl::StrFormat("after T=%.4g", r.temperature));
  // FormatSpec, not const char*: absl checks the format against the argument at each call's
  // literal, and clang (tools/check_thread_safety.py) rejects a runtime format string.
  const auto row = [&](const char* name, double before, double after,
                       const absl::FormatSpec<double>& fmt) {
    absl::StrAppend(&out, absl::StrFormat("%-22s ", name),
                    r.has_before ? absl::StrFormat(fmt, before) : absl::StrFormat("%12s", "-"), " ",
                    absl::StrFormat(fmt, after), "\n");
  };
  row("accuracy", r.before.accuracy, r.after.accuracy, "%12.4f");
  row("NLL", r.before.nll, r.after.nll, "%12.4f");
  row("ECE (15 bins)", r.before.ece, r.after.ece, "%12.4f");

  absl::StrAppendFormat(&out, "\nprediction sets (thresholds from %d calibration rows)\n",
                        r.calibration_rows);
  absl::StrAppendFormat(&out, "%-6s %-5s %8s %9s %9s %10s %7s %9s\n", "alpha", "score", "target",
                        "coverage", "mean size", "threshold", "empty", "singleton");
  for (const SetQuality& q : r.sets) {
    absl::StrAppendFormat(&out, "%-6g %-5s %8.3f %9.4f %9.3f %10s %7.4f %9.4f\n", q.alpha,
                          std::string(ConformalScoreName(q.score)), 1 - q.alpha, q.coverage,
                          q.mean_set_size, Threshold(q.threshold), q.empty_rate, q.singleton_rate);
  }
  absl::StrAppendFormat(&out,
                        "\nuncertain answers at alpha %g (score %s, min_confidence %g): %.2f%%\n",
                        r.alpha, std::string(ConformalScoreName(r.served_score)), r.min_confidence,
                        100 * r.uncertain_rate);
  absl::StrAppendFormat(&out, "  accuracy when not uncertain: %.4f (%d rows)\n",
                        r.accuracy_not_uncertain, r.not_uncertain_rows);
  absl::StrAppendFormat(&out, "  accuracy when uncertain:     %.4f (%d rows)\n", r.accuracy_uncertain,
                        r.rows - r.not_uncertain_rows);
  if (r.checked_answers) {
    absl::StrAppendFormat(&out,
                          "  served answers vs recomputed from logits: %d set and %d uncertain "
                          "mismatches, max probability difference %.2g\n",
                          r.set_mismatches, r.uncertain_mismatches, r.max_probability_error);
  }
  absl::StrAppendFormat(&out,
                        "\ncompute: %d requests of up to %d rows; wall time per request, in "
                        "process (Infer() to its callback): mean %.3f ms, p99 %.3f ms; %.1f us "
                        "per row\n",
                        r.timing.requests,
                        r.timing.requests > 0 ? (r.rows + r.timing.requests - 1) / r.timing.requests : 0,
                        r.timing.mean_ms, r.timing.p99_ms, r.timing.per_row_us);
  if (r.compute_per_row_us >= 0) {
    absl::StrAppendFormat(&out, "model compute per row (server-side, the batches' compute time%s): %.1f us\n",
                          r.rows_by_stage.empty() ? "" : " summed over the stages",
                          r.compute_per_row_us);
  }
  for (const EvaluationReport::ModelCompute& m : r.compute_by_model) {
    absl::StrAppendFormat(&out, "  %s: %d rows in %d batches (%.1f rows a batch), %.1f us per row evaluated\n",
                          m.model, m.rows, m.batches,
                          m.batches > 0 ? static_cast<double>(m.rows) / m.batches : 0.0,
                          UsPerRowEvaluated(m, r.rows));
  }
  for (size_t st = 0; st < r.rows_by_stage.size(); ++st) {
    absl::StrAppendFormat(&out, "cascade stage %d answered %d rows (%.1f %%)\n", st,
                          r.rows_by_stage[st], r.rows > 0 ? 100.0 * r.rows_by_stage[st] / r.rows : 0.0);
  }
  if (!r.rows_by_stage.empty() && r.rows > 0) {
    absl::StrAppendFormat(&out, "escalation rate (rows passed on by stage 0): %.1f %%\n",
                          100.0 * (r.rows - r.rows_by_stage[0]) / r.rows);
  }
  out +=
      "\nbefore/after T: softmax(logits) vs softmax(logits / T); accuracy does not change.\n"
      "ECE: mean |accuracy - confidence| over 15 equal-width bins of the top probability.\n"
      "coverage: how often the set holds the true class; the target is 1 - alpha.\n";
  return out;
}

std::string RenderEvaluationJson(const EvaluationReport& r) {
  std::string sets;
  for (const SetQuality& q : r.sets) {
    absl::StrAppend(&sets, sets.empty() ? "\n    " : ",\n    ", "{\"alpha\": ", JsonNumber(q.alpha),
                    ", \"score\": ", JsonString(ConformalScoreName(q.score)),
                    ", \"threshold\": ", JsonNumber(q.threshold), ", \"coverage\": ",
                    JsonNumber(q.coverage), ", \"mean_set_size\": ", JsonNumber(q.mean_set_size),
                    ", \"empty_rate\": ", JsonNumber(q.empty_rate), ", \"singleton_rate\": ",
                    JsonNumber(q.singleton_rate), "}");
  }
  std::string out = "{\n";
  absl::StrAppend(&out, "  \"predictor\": ", JsonString(r.predictor), ",\n");
  absl::StrAppend(&out, "  \"rows\": ", r.rows, ",\n  \"classes\": ", r.classes, ",\n");
  absl::StrAppend(&out, "  \"alpha\": ", JsonNumber(r.alpha), ",\n  \"score\": ",
                  JsonString(ConformalScoreName(r.served_score)), ",\n  \"min_confidence\": ",
                  JsonNumber(r.min_confidence), ",\n");
  absl::StrAppend(&out, "  \"temperature\": ", JsonNumber(r.temperature),
                  ",\n  \"calibration_rows\": ", r.calibration_rows, ",\n");
  absl::StrAppend(&out, "  \"before\": ", r.has_before ? QualityJson(r.before) : "null", ",\n");
  absl::StrAppend(&out, "  \"after\": ", QualityJson(r.after), ",\n");
  absl::StrAppend(&out, "  \"sets\": [", sets, "\n  ],\n");
  absl::StrAppend(&out, "  \"uncertain\": {\"rate\": ", JsonNumber(r.uncertain_rate),
                  ", \"not_uncertain_rows\": ", r.not_uncertain_rows,
                  ", \"accuracy_not_uncertain\": ", JsonNumber(r.accuracy_not_uncertain),
                  ", \"accuracy_uncertain\": ", JsonNumber(r.accuracy_uncertain), "},\n");
  absl::StrAppend(&out, "  \"answers_checked\": ", r.checked_answers ? "true" : "false",
                  ",\n  \"set_mismatches\": ", r.set_mismatches, ",\n  \"uncertain_mismatches\": ",
                  r.uncertain_mismatches, ",\n  \"max_probability_error\": ",
                  JsonNumber(r.max_probability_error), ",\n");
  absl::StrAppend(&out, "  \"timing\": {\"what\": \"wall time per request in process\", \"requests\": ",
                  r.timing.requests, ", \"mean_ms\": ", JsonNumber(r.timing.mean_ms),
                  ", \"p99_ms\": ", JsonNumber(r.timing.p99_ms), ", \"per_row_us\": ",
                  JsonNumber(r.timing.per_row_us), "},\n");
  std::string stages;
  for (size_t st = 0; st < r.rows_by_stage.size(); ++st) {
    absl::StrAppend(&stages, st ? ", " : "", r.rows_by_stage[st]);
  }
  std::string by_model;
  for (const EvaluationReport::ModelCompute& m : r.compute_by_model) {
    absl::StrAppend(&by_model, by_model.empty() ? "" : ", ", "{\"model\": ", JsonString(m.model),
                    ", \"batches\": ", m.batches, ", \"rows\": ", m.rows,
                    ", \"us_per_row_evaluated\": ", JsonNumber(UsPerRowEvaluated(m, r.rows)),
                    "}");
  }
  absl::StrAppend(&out, "  \"compute_per_row_us\": ",
                  r.compute_per_row_us >= 0 ? JsonNumber(r.compute_per_row_us) : "null",
                  ",\n  \"compute_by_model\": [", by_model, "]",
                  ",\n  \"rows_by_stage\": [", stages, "]\n");
  out += "}\n";
  return out;
}

std::string ReliabilityPlotScript(const EvaluationReport& r, const std::string& png_path) {
  // Inline data blocks ($name << EOD) keep the script self-contained: no temp files.
  std::string script;
  const auto block = [&](const char* name, const ProbabilityQuality& q) {
    absl::StrAppend(&script, "$", name, " << EOD\n");
    for (const ReliabilityBin& b : q.bins) {
      if (b.count == 0) continue;
      absl::StrAppendFormat(&script, "%.6f %.6f %.6f %d\n", (b.lower + b.upper) / 2, b.accuracy,
                            b.mean_confidence, b.count);
    }
    script += "EOD\n";
  };
  if (r.has_before) block("before", r.before);
  block("after", r.after);
  std::string quoted;
  for (char c : png_path) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  std::string title;
  for (char c : r.predictor) {
    if (c != '"' && c != '\\') title += c;
  }
  absl::StrAppendFormat(&script,
                        "set terminal pngcairo size 800,640 font \",11\"\n"
                        "set output \"%s\"\n"
                        "set title \"Reliability: %s (%d rows)\" noenhanced\n"
                        "set xlabel \"confidence (top probability), 15 bins; numbers: rows per bin after T\"\n"
                        "set ylabel \"accuracy\"\n"
                        "set xrange [0:1]\nset yrange [0:1]\nset key left top\nset grid\n"
                        "set style fill transparent solid 0.35 noborder\n"
                        "set boxwidth 1.0/15 absolute\n",
                        quoted, title, r.rows);
  std::string plot = "plot x title \"perfect calibration\" lw 1 lc rgb \"gray40\" dt 2";
  if (r.has_before) {
    absl::StrAppendFormat(&plot,
                          ", $before using 1:2 with linespoints lw 2 pt 7 lc rgb \"#d95f02\" "
                          "title \"before T (ECE %.4f)\"",
                          r.before.ece);
  }
  absl::StrAppendFormat(&plot,
                        ", $after using 1:2 with boxes lc rgb \"#1b9e77\" title \"after T=%.3g "
                        "(ECE %.4f)\", $after using 1:2 with points pt 5 lc rgb \"#1b9e77\" notitle, "
                        "$after using 1:2:(sprintf(\"%%d\", $4)) with labels offset 0,0.8 "
                        "font \",8\" textcolor rgb \"gray30\" notitle\n",
                        r.temperature, r.after.ece);
  script += plot;
  return script;
}

}  // namespace ferry
