// The registry's /api/v1 routes without sockets: a real Registry on a SQLite file in a
// temporary folder, over a TempRepository whose `simple` model (versions 1 and 2) serves
// on FakeBackends; every route, every error, and inference by alias.
#include "api/http/admin_api.h"

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/temp_dir.h"
#include "server/registry_service.h"
#include "testing/route.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

constexpr char kInfer[] =
    R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},)"
    R"({"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]})";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    repo_.AddVersion("simple", 2);
    RegistryOptions options;
    options.repository = repo_.path().string();
    options.database_path = dir_ / "registry.db";
    absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Open(options);
    ASSERT_TRUE(registry.ok()) << registry.status();
    ASSERT_TRUE((*registry)->ImportBundled("tester").ok());
    absl::StatusOr<std::unique_ptr<RegistryService>> service =
        RegistryService::Create(std::move(*registry), aliases_);
    ASSERT_TRUE(service.ok()) << service.status();
    registry_ = std::move(*service);
    ServerOptions server_options;
    server_options.aliases = aliases_;
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = repo_.StartServer(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    AdminOptions admin_options;
    admin_options.registry = registry_.get();
    absl::StatusOr<std::unique_ptr<AdminService>> admin =
        AdminService::Create(admin_options, server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    router_ = std::make_unique<Router>(server_.get(), admin_.get());
  }
  void TearDown() override {
    router_.reset();
    admin_.reset();
    server_.reset();
  }

  HttpResponse Call(std::string_view method, std::string_view target, std::string_view body = "") {
    std::optional<HttpResponse> r = RouteAndWait(*router_, {method, target, body});
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_EQ(r->content_type, "application/json");
    if (r->status >= 400) {
      EXPECT_TRUE(Parse(r->body).as_object().contains("error")) << r->body;
    }
    return *r;
  }
  static json::value Parse(const std::string& text) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    EXPECT_FALSE(ec) << text;
    return ec ? json::value(json::object()) : v;
  }
  // Expects `status` with an error naming `needle`.
  void ExpectError(std::string_view method, std::string_view target, std::string_view body,
                   int status, const std::string& needle) {
    HttpResponse r = Call(method, target, body);
    EXPECT_EQ(r.status, status) << method << " " << target << " " << body << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr(needle)) << method << " " << target << " " << body;
  }
  std::string Artifact(const std::string& bytes) { return dir_.Write("art/model.pt", bytes); }

  TempRepository repo_{"ferry_admin_api_test"};
  TempDir dir_{"ferry_admin_api_db"};
  std::shared_ptr<AliasTable> aliases_ = std::make_shared<AliasTable>();
  std::unique_ptr<RegistryService> registry_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<Router> router_;
};

TEST(AdminApiTargetTest, OnlyTheApiPrefix) {
  EXPECT_TRUE(IsAdminApiTarget("/api/v1"));
  EXPECT_TRUE(IsAdminApiTarget("/api/v1/models?x=1"));
  EXPECT_FALSE(IsAdminApiTarget("/api/v10/models"));
  EXPECT_FALSE(IsAdminApiTarget("/api"));
  EXPECT_FALSE(IsAdminApiTarget("/v2/models"));
}

TEST_F(AdminApiTest, ListsAndShowsImportedModels) {
  HttpResponse r = Call("GET", "/api/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Parse(r.body);
  const json::array& models = v.at("models").as_array();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].at("name").as_string(), "simple");
  EXPECT_EQ(models[0].at("aliases").at("production").as_int64(), 2);
  EXPECT_EQ(models[0].at("versions").as_array().size(), 2u);

  r = Call("GET", "/api/v1/models/simple");
  ASSERT_EQ(r.status, 200) << r.body;
  v = Parse(r.body);
  EXPECT_EQ(v.at("versions").as_array().size(), 2u);
  EXPECT_EQ(v.at("versions").at(1).at("aliases").at(0).as_string(), "production");
  EXPECT_EQ(v.at("versions").at(0).at("state").as_string(), "active");

  r = Call("GET", "/api/v1/models/simple/versions/production");
  ASSERT_EQ(r.status, 200) << r.body;
  v = Parse(r.body);
  EXPECT_EQ(v.at("version").as_int64(), 2);
  EXPECT_EQ(v.at("source").as_string(), "imported");
  EXPECT_TRUE(v.at("lineage").is_object());
  EXPECT_EQ(Parse(Call("GET", "/api/v1/models/simple/versions/1").body).at("version").as_int64(), 1);
}

TEST_F(AdminApiTest, ReadErrors) {
  ExpectError("GET", "/api/v1/models/nope", "", 404, "nope");
  ExpectError("GET", "/api/v1/models/simple/versions/9", "", 404, "9");
  ExpectError("GET", "/api/v1/models/simple/versions/canary", "", 404, "canary");
  ExpectError("GET", "/api/v1/models/nope/versions/1", "", 404, "nope");
  ExpectError("GET", "/api/v1/releases", "", 404, "no such endpoint '/api/v1/releases'");
  ExpectError("GET", "/api/v1", "", 404, "no such endpoint");
  ExpectError("GET", "/api/v1/models/", "", 404, "no such endpoint");
  ExpectError("GET", "/api/v1/models/simple/versions/1/lineage", "", 404, "no such endpoint");
  ExpectError("GET", "/api/v1/models/bad%zz", "", 400, "malformed %-escape");
  ExpectError("GET", "/api/v1/models?x=1", "", 400, "unknown query parameter 'x'");
  HttpResponse r = Call("DELETE", "/api/v1/models");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET");
  r = Call("GET", "/api/v1/models/simple/aliases/production");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.at(0).second, "PUT, DELETE");
  EXPECT_EQ(Call("GET", "/api/v1/models/simple/versions").status, 405);
  EXPECT_EQ(Call("POST", "/api/v1/audit").status, 405);
  EXPECT_EQ(Call("GET", "/api/v1/models/simple/versions/1/archive").status, 405);
}

TEST_F(AdminApiTest, MovesAliasesWithExpectedVersion) {
  HttpResponse r = Call("PUT", "/api/v1/models/simple/aliases/production",
                        R"({"version": 1, "expected_version": 2, "reason": "roll back"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("version").as_int64(), 1);
  // Stale: it is at 1 now.
  ExpectError("PUT", "/api/v1/models/simple/aliases/production",
              R"({"version": 2, "expected_version": 2})", 409, "");
  // null: must not exist yet.
  r = Call("PUT", "/api/v1/models/simple/aliases/canary", R"({"version": 2, "expected_version": null})");
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectError("PUT", "/api/v1/models/simple/aliases/canary", R"({"version": 1, "expected_version": null})",
              409, "");
  // No expectation: no check.
  EXPECT_EQ(Call("PUT", "/api/v1/models/simple/aliases/canary", R"({"version": 1})").status, 200);
  // Delete with a stale then a right expectation.
  ExpectError("DELETE", "/api/v1/models/simple/aliases/canary", R"({"expected_version": 2})", 409, "");
  r = Call("DELETE", "/api/v1/models/simple/aliases/canary", R"({"expected_version": 1})");
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectError("DELETE", "/api/v1/models/simple/aliases/canary", "", 404, "canary");
  // The audit log has both moves, the reason and a chain that verifies.
  r = Call("GET", "/api/v1/audit?model=simple&action=alias.set");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = Parse(r.body);
  const json::array& rows = v.at("entries").as_array();
  ASSERT_GE(rows.size(), 3u);
  bool found = false;
  for (const json::value& row : rows) found |= row.at("reason").as_string() == "roll back";
  EXPECT_TRUE(found) << r.body;
  EXPECT_EQ(Parse(Call("GET", "/api/v1/audit?limit=1").body).at("entries").as_array().size(), 1u);
  r = Call("GET", "/api/v1/audit/verify");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(Parse(r.body).at("ok").as_bool()) << r.body;
}

TEST_F(AdminApiTest, AliasErrors) {
  const std::string target = "/api/v1/models/simple/aliases/production";
  ExpectError("PUT", target, "", 400, "'version' is required");
  ExpectError("PUT", target, "[1]", 400, "must be a JSON object");
  ExpectError("PUT", target, "{", 400, "not valid JSON");
  ExpectError("PUT", target, R"({"version": "2"})", 400, "'version' must be a positive integer");
  ExpectError("PUT", target, R"({"version": 0})", 400, "'version' must be a positive integer");
  ExpectError("PUT", target, R"({"version": -1})", 400, "'version'");
  ExpectError("PUT", target, R"({"version": 1.5})", 400, "'version'");
  ExpectError("PUT", target, R"({"version": 2, "expected_version": "x"})", 400, "'expected_version'");
  ExpectError("PUT", target, R"({"version": 2, "expected": 1})", 400, "unknown field 'expected'");
  ExpectError("PUT", target, R"({"version": 2, "reason": 5})", 400, "'reason' must be a string");
  ExpectError("PUT", target, R"({"version": 9})", 404, "9");
  ExpectError("PUT", "/api/v1/models/nope/aliases/production", R"({"version": 1})", 404, "nope");
  ExpectError("PUT", "/api/v1/models/simple/aliases/Bad", R"({"version": 1})", 400, "alias");
  ExpectError("PUT", "/api/v1/models/simple/aliases/1x", R"({"version": 1})", 400, "alias");
  ExpectError("DELETE", target, R"({"version": 1})", 400, "unknown field 'version'");
  ExpectError("DELETE", "/api/v1/models/simple/aliases/nope", "", 404, "nope");
  ExpectError("PUT", target + "?force=1", R"({"version": 1})", 400, "unknown query parameter 'force'");
}

TEST_F(AdminApiTest, ArchivesAndRefusesAliasedVersions) {
  ExpectError("POST", "/api/v1/models/simple/versions/2/archive", "", 409, "");
  ExpectError("POST", "/api/v1/models/simple/versions/production/archive", "", 400,
              "must be a version number");
  ExpectError("POST", "/api/v1/models/simple/versions/9/archive", "", 404, "9");
  ExpectError("POST", "/api/v1/models/simple/versions/1/archive", R"({"why": "x"})", 400,
              "unknown field 'why'");
  HttpResponse r = Call("POST", "/api/v1/models/simple/versions/1/archive", R"({"reason": "old"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("state").as_string(), "archived");
  // An archived version cannot be aliased.
  ExpectError("PUT", "/api/v1/models/simple/aliases/production", R"({"version": 1})", 409, "");
}

TEST_F(AdminApiTest, AuditErrors) {
  ExpectError("GET", "/api/v1/audit?limit=0", "", 400, "'limit'");
  ExpectError("GET", "/api/v1/audit?limit=10001", "", 400, "'limit'");
  ExpectError("GET", "/api/v1/audit?limit=x", "", 400, "'limit'");
  ExpectError("GET", "/api/v1/audit?since=-1", "", 400, "'since'");
  ExpectError("GET", "/api/v1/audit?until=soon", "", 400, "'until'");
  ExpectError("GET", "/api/v1/audit?who=me", "", 400, "unknown query parameter 'who'");
  ExpectError("GET", "/api/v1/audit?model=a&model=b", "", 400, "'model' is given twice");
  ExpectError("GET", "/api/v1/audit?model=%zz", "", 400, "malformed %-escape");
  ExpectError("GET", "/api/v1/audit/verify?x=1", "", 400, "unknown query parameter 'x'");
  HttpResponse r = Call("GET", "/api/v1/audit?model=nope");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(Parse(r.body).at("entries").as_array().empty());
  r = Call("GET", "/api/v1/audit?since=1&until=2");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(Parse(r.body).at("entries").as_array().empty());
}

TEST_F(AdminApiTest, RegistersLoadsAndServesByAlias) {
  HttpResponse r = Call("POST", "/api/v1/models/simple/versions",
                        absl::StrCat(R"({"artifact_path": ")", Artifact("weights"),
                                     R"(", "tags": {"team": "a"}, "description": "retrained",)",
                                     R"( "lineage": {"code_revision": "abc123"}, "reason": "new data"})"));
  ASSERT_EQ(r.status, 201) << r.body;
  json::value v = Parse(r.body);
  EXPECT_EQ(v.at("version").as_int64(), 3);
  EXPECT_EQ(v.at("tags").at("team").as_string(), "a");
  EXPECT_EQ(v.at("lineage").at("code_revision").as_string(), "abc123");
  EXPECT_EQ(v.at("files").at(0).at("path").as_string(), "model.pt");
  EXPECT_EQ(v.at("files").at(0).at("sha256").as_string().size(), 64u);
  // It serves: by number, and by alias once production moves to it.
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/3/ready").status, 200);
  r = Call("POST", "/v2/models/simple/versions/production/infer", kInfer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("model_version").as_string(), "2");
  ASSERT_EQ(Call("PUT", "/api/v1/models/simple/aliases/production",
                 R"({"version": 3, "expected_version": 2})").status, 200);
  r = Call("POST", "/v2/models/simple/versions/production/infer", kInfer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("model_version").as_string(), "3");
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/production").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/production/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/production/config").status, 200);
  ExpectError("POST", "/v2/models/simple/versions/canary/infer", kInfer, 404,
              "model 'simple' has no version alias 'canary'");
  ExpectError("GET", "/v2/models/simple/versions/canary/ready", "", 404, "canary");
}

TEST_F(AdminApiTest, AVersionThatFailsToLoadIs422AndServesNothing) {
  repo_.fakes().FailLoad("simple", 3, absl::InvalidArgumentError("the file is not TorchScript"));
  HttpResponse r = Call("POST", "/api/v1/models/simple/versions",
                        absl::StrCat(R"({"artifact_path": ")", Artifact("junk"), R"("})"));
  ASSERT_EQ(r.status, 422) << r.body;
  json::value v = Parse(r.body);
  EXPECT_THAT(std::string(v.at("error").as_string()), HasSubstr("the file is not TorchScript"));
  EXPECT_EQ(v.at("version").as_int64(), 3);
  EXPECT_EQ(v.at("state").as_string(), "archived");
  // Version 3 takes no traffic; the default still answers with 2.
  EXPECT_NE(Call("POST", "/v2/models/simple/versions/3/infer", kInfer).status, 200);
  r = Call("POST", "/v2/models/simple/infer", kInfer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("model_version").as_string(), "2");
  ExpectError("PUT", "/api/v1/models/simple/aliases/production", R"({"version": 3})", 409, "");
  // The next registration loads and answers 201, though version 3 still fails beside it.
  r = Call("POST", "/api/v1/models/simple/versions",
           absl::StrCat(R"({"artifact_path": ")", Artifact("good"), R"("})"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Parse(r.body).at("version").as_int64(), 4);
  r = Call("POST", "/v2/models/simple/infer", kInfer);
  EXPECT_EQ(Parse(r.body).at("model_version").as_string(), "4");
}

TEST_F(AdminApiTest, RegisterErrors) {
  const std::string target = "/api/v1/models/simple/versions";
  const std::string path = Artifact("w");
  ExpectError("POST", target, "", 400, "'artifact_path' is required");
  ExpectError("POST", target, R"({"artifact_path": 5})", 400, "'artifact_path'");
  ExpectError("POST", target, R"({"artifact_path": ""})", 400, "'artifact_path'");
  ExpectError("POST", target, R"({"artifact_path": "/no/such/file"})", 404, "/no/such/file");
  const std::string a = absl::StrCat(R"({"artifact_path": ")", path, R"(", )");
  ExpectError("POST", target, a + R"("lineage": [1]})", 400, "'lineage' must be a JSON object");
  ExpectError("POST", target, a + R"("lineage": {"colour": 1}})", 400, "lineage");
  ExpectError("POST", target, a + R"("lineage": {"training_data": [{"uri": "x", "sha256": "12"}]}})",
              400, "sha256");
  ExpectError("POST", target, a + R"("tags": [1]})", 400, "'tags' must be an object");
  ExpectError("POST", target, a + R"("tags": {"k": 1}})", 400, "the value of 'k' must be a string");
  ExpectError("POST", target, a + R"("tags": {"bad key": "v"}})", 400, "tag");
  ExpectError("POST", target, a + R"("description": 1})", 400, "'description' must be a string");
  ExpectError("POST", target, a + R"("version": 7})", 400, "unknown field 'version'");
  ExpectError("POST", "/api/v1/models/..%2Fx/versions", absl::StrCat(R"({"artifact_path": ")", path, R"("})"),
              400, "model");
  // None of that registered anything.
  EXPECT_EQ(Parse(Call("GET", "/api/v1/models/simple").body).at("versions").as_array().size(), 2u);
}

TEST(AdminApiWithoutRegistryTest, AnswersNotFound) {
  TempRepository repo("ferry_admin_api_noreg");
  repo.AddSimple("simple");
  absl::StatusOr<std::unique_ptr<InferenceServer>> server = repo.StartServer();
  ASSERT_TRUE(server.ok());
  absl::StatusOr<std::unique_ptr<AdminService>> admin = AdminService::Create({}, server->get());
  ASSERT_TRUE(admin.ok());
  Router router(server->get(), admin->get());
  std::optional<HttpResponse> r = RouteAndWait(router, {"GET", "/api/v1/models", ""});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("without a model registry"));
  // And a version alias is not known either.
  r = RouteAndWait(router, {"GET", "/v2/models/simple/versions/production", ""});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("no version alias 'production'"));
}

}  // namespace
}  // namespace ferry
