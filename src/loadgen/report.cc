#include "loadgen/report.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "boost/json.hpp"

extern char** environ;

namespace ferry::loadgen {
namespace json = boost::json;
namespace {

double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

std::string ErrorSummary(const ErrorCounts& e) {
  std::vector<std::string> parts;
  for (const auto& [code, count] : e.http_status)
    parts.push_back(absl::StrCat("HTTP ", code, ": ", count));
  for (const auto& [code, count] : e.grpc_status)
    parts.push_back(absl::StrCat("gRPC ", RpcCodeName(code), ": ", count));
  if (e.connection > 0) parts.push_back(absl::StrCat("connection: ", e.connection));
  if (e.timeout > 0) parts.push_back(absl::StrCat("timeout: ", e.timeout));
  if (e.bad_response > 0) parts.push_back(absl::StrCat("bad response: ", e.bad_response));
  return absl::StrJoin(parts, ", ");
}

std::string OrNa(const std::optional<ServerSplit>& s, double ServerSplit::*field, int width,
                 int precision) {
  if (!s) return absl::StrFormat("%*s", width, "n/a");
  return absl::StrFormat("%*.*f", width, precision, (*s).*field);
}

std::string ShortLabel(const LoadPoint& p) {
  return p.mode == LoadMode::kConcurrency ? absl::StrCat("c=", static_cast<int64_t>(p.value))
                                          : absl::StrCat(p.value, "/s");
}

}  // namespace

std::vector<std::string> Warnings(const Measurement& r) {
  std::vector<std::string> w;
  const std::string label = LoadPointLabel(r.point);
  if (r.requests > 0 && r.ok == 0) {
    w.push_back(absl::StrCat(label, ": no request succeeded"));
  }
  if (r.point.mode == LoadMode::kRate && r.requests > 0) {
    const double late_fraction = static_cast<double>(r.late) / static_cast<double>(r.requests);
    if (late_fraction > 0.01) {
      w.push_back(absl::StrFormat(
          "%s: the client fell behind schedule: %d of %d requests (%.1f%%) were sent more than "
          "--late-threshold-us late (worst %.2f ms), the client's own delay (CPU or timer), not "
          "the server's. Latencies include it; arrivals were burstier than Poisson. Add "
          "--threads, free the CPU, or lower the rate.",
          label, r.late, r.requests, 100 * late_fraction, r.max_lag_us / 1e3));
    }
    if (r.offered_rps < 0.95 * r.point.value) {
      w.push_back(absl::StrFormat("%s: only %.1f requests/s were scheduled of the %g asked", label,
                                  r.offered_rps, r.point.value));
    }
    if (r.pool_waits > 0) {
      w.push_back(absl::StrFormat(
          "%s: %d requests waited for a free connection (all --max-connections busy): the "
          "server is not keeping up with this rate; their latency includes the wait",
          label, r.pool_waits));
    }
  }
  if (r.client_cpu_percent > 80) {
    w.push_back(absl::StrFormat(
        "%s: the client used %.0f%% of a core; it may be the bottleneck (try --threads 2)", label,
        r.client_cpu_percent));
  }
  return w;
}

std::string FormatTable(const ReportContext& c, const std::vector<Measurement>& runs) {
  std::string out = absl::StrFormat(
      "ferry bench: model %s%s at %s, %s, batch %d, inputs %s, %d thread(s), warm-up %gs, %s\n\n",
      c.model, c.version.empty() ? "" : absl::StrCat(" v", c.version), c.url, c.protocol, c.batch,
      c.inputs, c.threads, c.warmup_seconds,
      c.requests > 0 ? absl::StrCat(c.requests, " requests")
                     : absl::StrCat(c.duration_seconds, "s"));
  absl::StrAppendFormat(&out, "%-18s %10s %10s %9s %9s %9s %9s %8s %10s %10s %9s %11s\n", "load",
                        "req/s", "samples/s", "p50 us", "p90 us", "p99 us", "max us", "errors",
                        "srv queue", "srv comp", "avg batch", "client CPU");
  absl::StrAppendFormat(&out, "%-18s %10s %10s %9s %9s %9s %9s %8s %10s %10s %9s %11s\n", "", "",
                        "", "", "", "", "", "", "us/req", "us/req", "", "us/req");
  for (const Measurement& r : runs) {
    const LatencyHistogram& h = r.latency_ns;
    absl::StrAppendFormat(
        &out, "%-18s %10.1f %10.1f %9.0f %9.0f %9.0f %9.0f %8d %s %s %s %11.1f\n",
        LoadPointLabel(r.point), r.throughput_rps, r.samples_per_second, Us(h.Percentile(50)),
        Us(h.Percentile(90)), Us(h.Percentile(99)), Us(h.max()), r.errors.total(),
        OrNa(r.server, &ServerSplit::queue_us, 10, 1),
        OrNa(r.server, &ServerSplit::compute_us, 10, 1),
        OrNa(r.server, &ServerSplit::avg_batch, 9, 2), r.client_cpu_us_per_request);
  }
  bool notes = false;
  auto note = [&](const std::string& line) {
    if (!notes) out.append("\n");
    notes = true;
    absl::StrAppend(&out, line, "\n");
  };
  for (const Measurement& r : runs) {
    const std::string label = LoadPointLabel(r.point);
    if (r.interrupted)
      note(absl::StrCat(label, ": interrupted; the numbers cover the part measured"));
    if (r.point.mode == LoadMode::kRate) {
      note(absl::StrFormat(
          "%s: scheduled %.1f/s; sent late by the client: %d (worst %.0f us); waited for a "
          "connection: %d",
          label, r.offered_rps, r.late, r.max_lag_us, r.pool_waits));
    }
    if (r.errors.total() > 0) {
      note(absl::StrCat(label, ": errors ", ErrorSummary(r.errors)));
      for (const std::string& e : r.errors.examples) note(absl::StrCat("    e.g. ", e));
    }
    if (!r.server && !r.server_note.empty())
      note(absl::StrCat(label, ": server split n/a: ", r.server_note));
  }
  for (const Measurement& r : runs) {
    for (const std::string& w : Warnings(r)) note(absl::StrCat("WARNING ", w));
  }
  return out;
}

std::string FormatJson(const ReportContext& c, const std::vector<Measurement>& runs) {
  json::object config{{"url", c.url},
                      {"model", c.model},
                      {"model_version", c.version},
                      {"protocol", c.protocol},
                      {"inputs", c.inputs},
                      {"batch", c.batch},
                      {"threads", c.threads},
                      {"warmup_seconds", c.warmup_seconds},
                      {"duration_seconds", c.requests > 0 ? 0.0 : c.duration_seconds},
                      {"requests", c.requests},
                      {"pool_size", c.pool_size},
                      {"request_bytes", c.request_bytes}};
  json::array measurements;
  for (const Measurement& r : runs) {
    const LatencyHistogram& h = r.latency_ns;
    json::object errors{{"total", r.errors.total()},
                        {"connection", r.errors.connection},
                        {"timeout", r.errors.timeout},
                        {"bad_response", r.errors.bad_response}};
    json::object http;
    for (const auto& [code, count] : r.errors.http_status) http[std::to_string(code)] = count;
    errors["http_status"] = std::move(http);
    json::object grpc;
    for (const auto& [code, count] : r.errors.grpc_status) grpc[RpcCodeName(code)] = count;
    errors["grpc_status"] = std::move(grpc);
    json::array examples;
    for (const std::string& e : r.errors.examples) examples.emplace_back(e);
    errors["examples"] = std::move(examples);
    json::object m{
        {"mode", r.point.mode == LoadMode::kConcurrency ? "concurrency" : "rate"},
        {"value", r.point.mode == LoadMode::kConcurrency
                      ? json::value(static_cast<int64_t>(r.point.value))
                      : json::value(r.point.value)},
        {"interrupted", r.interrupted},
        {"requests", r.requests},
        {"ok", r.ok},
        {"seconds", r.seconds},
        {"throughput_rps", r.throughput_rps},
        {"samples_per_second", r.samples_per_second},
        {"latency_us", json::object{{"p50", Us(h.Percentile(50))},
                                    {"p90", Us(h.Percentile(90))},
                                    {"p99", Us(h.Percentile(99))},
                                    {"max", Us(h.max())},
                                    {"mean", h.mean() / 1e3},
                                    {"min", Us(h.min())}}},
        {"errors", std::move(errors)},
        {"bytes_sent", r.bytes_sent},
        {"bytes_received", r.bytes_received},
        {"client_cpu_us_per_request", r.client_cpu_us_per_request},
        {"client_cpu_percent", r.client_cpu_percent},
    };
    if (r.point.mode == LoadMode::kRate) {
      m["offered_rps"] = r.offered_rps;
      m["late"] = r.late;
      m["max_lag_us"] = r.max_lag_us;
      m["pool_waits"] = r.pool_waits;
    }
    if (r.server) {
      m["server"] = json::object{{"requests", r.server->requests},
                                 {"queue_us", r.server->queue_us},
                                 {"compute_us", r.server->compute_us},
                                 {"avg_batch", r.server->avg_batch}};
    } else {
      m["server"] = nullptr;
      m["server_note"] = r.server_note;
    }
    json::array warnings;
    for (const std::string& w : Warnings(r)) warnings.emplace_back(w);
    m["warnings"] = std::move(warnings);
    measurements.emplace_back(std::move(m));
  }
  json::object root{{"config", std::move(config)}, {"measurements", std::move(measurements)}};
  return json::serialize(root) + "\n";
}

std::string FormatCsv(const std::vector<Measurement>& runs) {
  std::string out =
      "mode,value,requests,ok,errors,seconds,throughput_rps,samples_per_second,p50_us,p90_us,"
      "p99_us,max_us,mean_us,http_errors,connection_errors,timeouts,bad_responses,offered_rps,"
      "late,max_lag_us,pool_waits,server_queue_us,server_compute_us,server_avg_batch,"
      "client_cpu_us_per_request,client_cpu_percent,grpc_errors\n";
  for (const Measurement& r : runs) {
    const LatencyHistogram& h = r.latency_ns;
    uint64_t http = 0;
    for (const auto& [code, count] : r.errors.http_status) http += count;
    uint64_t grpc = 0;
    for (const auto& [code, count] : r.errors.grpc_status) grpc += count;
    std::string server = ",,";
    if (r.server) {
      server = absl::StrFormat("%.3f,%.3f,%.3f", r.server->queue_us, r.server->compute_us,
                               r.server->avg_batch);
    }
    absl::StrAppendFormat(&out,
                          "%s,%g,%d,%d,%d,%.3f,%.3f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%d,%d,%d,%d,%.3f,"
                          "%d,%.1f,%d,%s,%.2f,%.1f,%d\n",
                          r.point.mode == LoadMode::kConcurrency ? "concurrency" : "rate",
                          r.point.value, r.requests, r.ok, r.errors.total(), r.seconds,
                          r.throughput_rps, r.samples_per_second, Us(h.Percentile(50)),
                          Us(h.Percentile(90)), Us(h.Percentile(99)), Us(h.max()), h.mean() / 1e3,
                          http, r.errors.connection, r.errors.timeout, r.errors.bad_response,
                          r.offered_rps, r.late, r.max_lag_us, r.pool_waits, server,
                          r.client_cpu_us_per_request, r.client_cpu_percent, grpc);
  }
  return out;
}

absl::Status WritePlot(const ReportContext& c, const std::vector<Measurement>& runs,
                       const std::string& path) {
  auto quote = [](absl::string_view s) {
    return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
  };
  std::string script = absl::StrCat(
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  set terminal pngcairo size 960,600 noenhanced\n"
      "} else {\n"
      "  set terminal png size 960,600 noenhanced\n"
      "}\n",
      "set output ", quote(path), "\n", "set title ",
      quote(absl::StrFormat("ferry bench: %s, %s, batch %d: p99 latency vs throughput", c.model,
                            c.protocol, c.batch)),
      "\nset xlabel 'throughput (requests/s)'\nset ylabel 'p99 latency (us)'\n"
      "set grid\nset key off\nset xrange [0:*]\nset yrange [0:*]\n$data << EOD\n");
  for (const Measurement& r : runs) {
    absl::StrAppendFormat(&script, "%.3f %.1f %s\n", r.throughput_rps,
                          Us(r.latency_ns.Percentile(99)), ShortLabel(r.point));
  }
  script.append(
      "EOD\nplot $data using 1:2 with linespoints pt 7 ps 1.2 lw 2, "
      "'' using 1:2:3 with labels offset 0,1\n");

  char script_path[] = "/tmp/ferry-bench-plot-XXXXXX";
  const int fd = mkstemp(script_path);
  if (fd < 0) return absl::InternalError(absl::StrCat("--plot: temp file: ", std::strerror(errno)));
  const bool written =
      write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  close(fd);
  if (!written) {
    unlink(script_path);
    return absl::InternalError("--plot: could not write the gnuplot script");
  }
  pid_t pid = 0;
  char arg0[] = "gnuplot";
  char* argv[] = {arg0, script_path, nullptr};
  const int spawned = posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv, environ);
  if (spawned != 0) {
    unlink(script_path);
    if (spawned == ENOENT) {
      return absl::FailedPreconditionError(
          "--plot: gnuplot is not on PATH (Debian: apt-get install gnuplot-nox); the plot was "
          "not written, the other results are complete");
    }
    return absl::InternalError(
        absl::StrCat("--plot: cannot run gnuplot: ", std::strerror(spawned)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  unlink(script_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("--plot: gnuplot failed writing '", path, "' (its messages are above)"));
  }
  return absl::OkStatus();
}

}  // namespace ferry::loadgen
