// `ferry models ...` and `ferry audit ...`: the model registry's commands, calling a running
// server's /api/v1 (docs/registry.md) over HTTP. Tables for people; --json prints the
// server's answer as it came, for scripts. Exit code 0 on success, 1 on any error (the
// server's message on stderr), and 1 when `audit verify` finds a broken chain.
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "loadgen/http_transport.h"
#include "loadgen/transport.h"

namespace ferry {
namespace {

namespace json = boost::json;

struct ClientFlags {
  std::string url = "http://127.0.0.1:8000";
  bool json = false;
};

void AddClientFlags(CLI::App* cmd, ClientFlags& flags) {
  cmd->add_option("--url", flags.url, "The Ferry server to call")->capture_default_str();
  cmd->add_flag("--json", flags.json, "Print the server's JSON answer instead of a table");
}

// %-escapes a path segment or query value.
std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Calls the API; on success prints the JSON (with --json) or hands it to `table`.
int Call(const ClientFlags& flags, const std::string& method, const std::string& target,
         const std::string& body, const std::function<int(const json::value&)>& table) {
  absl::StatusOr<loadgen::Endpoint> endpoint = loadgen::ParseUrl(flags.url);
  if (!endpoint.ok()) {
    std::cerr << "error: --url: " << endpoint.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<loadgen::HttpResult> r =
      loadgen::HttpCall(*endpoint, method, "/api/v1" + target, body, std::chrono::seconds(120));
  if (!r.ok()) {
    std::cerr << "error: " << r.status().message() << "\n";
    return 1;
  }
  json::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (r->status >= 300) {
    std::string message = r->body;
    if (!ec && v.is_object() && v.as_object().contains("error") && v.at("error").is_string()) {
      message = std::string(v.at("error").as_string());
    }
    std::cerr << "error: " << method << " /api/v1" << target << " -> " << r->status << ": "
              << message << "\n";
    return 1;
  }
  if (ec) {
    std::cerr << "error: the server's answer is not JSON: " << r->body.substr(0, 200) << "\n";
    return 1;
  }
  if (flags.json) {
    std::cout << r->body << "\n";
    return 0;
  }
  return table(v);
}

std::string Text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

std::string TagsText(const json::value& tags) {
  std::vector<std::string> parts;
  if (tags.is_object()) {
    for (const auto& kv : tags.as_object()) {
      parts.push_back(absl::StrCat(std::string(kv.key()), "=", Text(kv.value())));
    }
  }
  return absl::StrJoin(parts, ",");
}

// Prints rows as left-aligned columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int PrintVersion(const json::value& v) {
  std::cout << "model:       " << Text(v.at("model")) << "\n"
            << "version:     " << Text(v.at("version")) << "\n"
            << "state:       " << Text(v.at("state")) << "\n"
            << "aliases:     " << Text(v.at("aliases")) << "\n"
            << "tags:        " << TagsText(v.at("tags")) << "\n"
            << "description: " << Text(v.at("description")) << "\n"
            << "source:      " << Text(v.at("source")) << " by " << Text(v.at("created_by"))
            << "\n";
  for (const json::value& f : v.at("files").as_array()) {
    std::cout << "file:        " << Text(f.at("path")) << "  sha256 " << Text(f.at("sha256"))
              << "  " << Text(f.at("bytes")) << " bytes\n";
  }
  std::cout << "lineage:     " << json::serialize(v.at("lineage")) << "\n";
  return 0;
}

void AddModels(CLI::App& app, std::function<int()>& run) {
  CLI::App* models = app.add_subcommand("models", "The model registry of a running server");
  models->require_subcommand(1);

  auto list = std::make_shared<ClientFlags>();
  CLI::App* cmd = models->add_subcommand("list", "Registered models with their aliases");
  AddClientFlags(cmd, *list);
  cmd->callback([list, &run] {
    run = [list] {
      return Call(*list, "GET", "/models", "", [](const json::value& v) {
        std::vector<std::vector<std::string>> rows = {{"MODEL", "VERSIONS", "ALIASES", "TAGS"}};
        for (const json::value& m : v.at("models").as_array()) {
          std::vector<std::string> aliases;
          for (const auto& kv : m.at("aliases").as_object()) {
            aliases.push_back(absl::StrCat(std::string(kv.key()), "=", Text(kv.value())));
          }
          rows.push_back({Text(m.at("name")), std::to_string(m.at("versions").as_array().size()),
                          absl::StrJoin(aliases, ","), TagsText(m.at("tags"))});
        }
        PrintTable(rows);
        return 0;
      });
    };
  });

  struct Show : ClientFlags {
    std::string model;
  };
  auto show = std::make_shared<Show>();
  cmd = models->add_subcommand("show", "One model: its versions and aliases");
  cmd->add_option("model", show->model, "Model name")->required();
  AddClientFlags(cmd, *show);
  cmd->callback([show, &run] {
    run = [show] {
      return Call(*show, "GET", "/models/" + Escape(show->model), "", [](const json::value& v) {
        std::cout << "model: " << Text(v.at("name")) << "\n";
        if (!Text(v.at("description")).empty()) {
          std::cout << "description: " << Text(v.at("description")) << "\n";
        }
        std::vector<std::vector<std::string>> rows = {
            {"VERSION", "STATE", "ALIASES", "SOURCE", "CREATED_BY", "TAGS"}};
        for (const json::value& x : v.at("versions").as_array()) {
          std::vector<std::string> aliases;
          for (const json::value& a : x.at("aliases").as_array()) aliases.push_back(Text(a));
          rows.push_back({Text(x.at("version")), Text(x.at("state")), absl::StrJoin(aliases, ","),
                          Text(x.at("source")), Text(x.at("created_by")), TagsText(x.at("tags"))});
        }
        PrintTable(rows);
        return 0;
      });
    };
  });

  struct Register : ClientFlags {
    std::string model, artifact, lineage, description, reason;
    std::vector<std::string> tags;
  };
  auto reg = std::make_shared<Register>();
  cmd = models->add_subcommand("register",
                               "Register the next version of a model from an artifact on the "
                               "server's host, then load it");
  cmd->add_option("model", reg->model, "Model name")->required();
  cmd->add_option("--artifact", reg->artifact, "A file or folder (a path the server can read)")
      ->required();
  cmd->add_option("--lineage", reg->lineage, "A lineage JSON file (docs/registry.md)");
  cmd->add_option("--tag", reg->tags, "key=value (repeatable)");
  cmd->add_option("--description", reg->description, "Description");
  cmd->add_option("--reason", reg->reason, "Why (kept in the audit log)");
  AddClientFlags(cmd, *reg);
  cmd->callback([reg, &run] {
    run = [reg] {
      json::object body;
      body["artifact_path"] = std::filesystem::absolute(reg->artifact).string();
      if (!reg->lineage.empty()) {
        std::ifstream in(reg->lineage);
        if (!in) {
          std::cerr << "error: --lineage: cannot read " << reg->lineage << "\n";
          return 1;
        }
        std::stringstream text;
        text << in.rdbuf();
        json::error_code ec;
        json::value lineage = json::parse(text.str(), ec);
        if (ec || !lineage.is_object()) {
          std::cerr << "error: --lineage: " << reg->lineage << " is not a JSON object\n";
          return 1;
        }
        body["lineage"] = std::move(lineage);
      }
      json::object tags;
      for (const std::string& tag : reg->tags) {
        const size_t eq = tag.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::cerr << "error: --tag '" << tag << "' must be key=value\n";
          return 1;
        }
        tags[tag.substr(0, eq)] = tag.substr(eq + 1);
      }
      if (!tags.empty()) body["tags"] = std::move(tags);
      if (!reg->description.empty()) body["description"] = reg->description;
      if (!reg->reason.empty()) body["reason"] = reg->reason;
      return Call(*reg, "POST", "/models/" + Escape(reg->model) + "/versions",
                  json::serialize(body), PrintVersion);
    };
  });

  struct AliasFlags : ClientFlags {
    std::string model, alias, reason;
    int64_t version = 0;
    std::optional<int64_t> expected;
  };
  auto alias = std::make_shared<AliasFlags>();
  cmd = models->add_subcommand("alias", "Point an alias at a version");
  cmd->add_option("model", alias->model, "Model name")->required();
  cmd->add_option("alias", alias->alias, "Alias name (production, canary, ...)")->required();
  cmd->add_option("version", alias->version, "Version number")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--expected", alias->expected,
                  "The version the alias names now (0: not set); refused if it moved meanwhile");
  cmd->add_option("--reason", alias->reason, "Why (kept in the audit log)");
  AddClientFlags(cmd, *alias);
  cmd->callback([alias, &run] {
    run = [alias] {
      json::object body{{"version", alias->version}};
      if (alias->expected) {
        if (*alias->expected == 0) {
          body["expected_version"] = nullptr;
        } else {
          body["expected_version"] = *alias->expected;
        }
      }
      if (!alias->reason.empty()) body["reason"] = alias->reason;
      return Call(*alias, "PUT",
                  "/models/" + Escape(alias->model) + "/aliases/" + Escape(alias->alias),
                  json::serialize(body), [](const json::value& v) {
                    std::cout << Text(v.at("model")) << ": " << Text(v.at("alias")) << " -> "
                              << Text(v.at("version")) << "\n";
                    return 0;
                  });
    };
  });

  struct Lineage : ClientFlags {
    std::string model, version;
  };
  auto lineage = std::make_shared<Lineage>();
  cmd = models->add_subcommand("lineage", "A version and its ancestors, child first");
  cmd->add_option("model", lineage->model, "Model name")->required();
  cmd->add_option("version", lineage->version, "Version number or alias")->required();
  AddClientFlags(cmd, *lineage);
  cmd->callback([lineage, &run] {
    run = [lineage] {
      return Call(*lineage, "GET",
                  "/models/" + Escape(lineage->model) + "/versions/" + Escape(lineage->version), "",
                  [](const json::value& v) {
                    std::cout << Text(v.at("lineage_text"));
                    return 0;
                  });
    };
  });
}

void AddAudit(CLI::App& app, std::function<int()>& run) {
  CLI::App* audit = app.add_subcommand("audit", "The registry's audit log on a running server");
  audit->require_subcommand(1);

  struct List : ClientFlags {
    std::string model, action;
    int limit = 0;
  };
  auto list = std::make_shared<List>();
  CLI::App* cmd = audit->add_subcommand("list", "Audit rows, oldest first");
  cmd->add_option("--model", list->model, "Only this model's rows");
  cmd->add_option("--action", list->action, "Only this action (alias.set, model.register, ...)");
  cmd->add_option("--limit", list->limit, "At most this many rows (1..10000)");
  AddClientFlags(cmd, *list);
  cmd->callback([list, &run] {
    run = [list] {
      std::vector<std::string> query;
      if (!list->model.empty()) query.push_back("model=" + Escape(list->model));
      if (!list->action.empty()) query.push_back("action=" + Escape(list->action));
      if (list->limit != 0) query.push_back("limit=" + std::to_string(list->limit));
      const std::string target =
          query.empty() ? "/audit" : "/audit?" + absl::StrJoin(query, "&");
      return Call(*list, "GET", target, "", [](const json::value& v) {
        std::vector<std::vector<std::string>> rows = {
            {"ID", "TIME_MS", "ACTOR", "ACTION", "MODEL", "AFTER", "REASON"}};
        for (const json::value& e : v.at("entries").as_array()) {
          rows.push_back({Text(e.at("id")), Text(e.at("time_ms")), Text(e.at("actor")),
                          Text(e.at("action")), Text(e.at("model")), Text(e.at("after")),
                          Text(e.at("reason"))});
        }
        PrintTable(rows);
        return 0;
      });
    };
  });

  auto verify = std::make_shared<ClientFlags>();
  cmd = audit->add_subcommand("verify", "Check the audit log's hash chain");
  AddClientFlags(cmd, *verify);
  cmd->callback([verify, &run] {
    run = [verify] {
      int code = 0;
      const int called = Call(*verify, "GET", "/audit/verify", "", [&code](const json::value& v) {
        if (v.at("ok").as_bool()) {
          std::cout << "ok: " << Text(v.at("rows")) << " rows; head " << Text(v.at("head_id"))
                    << " " << Text(v.at("head_hash")) << "\n";
        } else {
          std::cout << "BROKEN at row " << Text(v.at("first_bad_id")) << ": "
                    << Text(v.at("problem")) << "\n";
          code = 1;
        }
        return 0;
      });
      return called != 0 ? called : code;
    };
  });
}

}  // namespace

void AddRegistryCommands(CLI::App& app, std::function<int()>& run) {
  AddModels(app, run);
  AddAudit(app, run);
}

}  // namespace ferry
