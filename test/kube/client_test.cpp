#include "kmb/kube/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kube/kube_test_support.h"

// In kube_test, next to the support code (kube_test_support.h) these tests use.
namespace kmb::kube_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kToken = "eyJhbGciOi.sekret-token.XYZ123";

const char* kForbidden = R"({"kind":"Status","apiVersion":"v1","metadata":{},
  "status":"Failure","message":"nodes is forbidden: User \"system:anonymous\" cannot list)"
                         R"( resource \"nodes\" in API group \"\" at the cluster scope",
  "reason":"Forbidden","details":{"kind":"nodes"},"code":403})";

ScriptedResponse Json(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// One PKI for the whole suite: generating keys is the slow part.
struct Pki {
  KeyCert ca = MakeCa("kmb-test-ca");
  KeyCert other_ca = MakeCa("kmb-other-ca");
  KeyCert server = IssueCert(ca, "127.0.0.1", {"IP:127.0.0.1", "DNS:localhost"}, false);
  KeyCert named_server = IssueCert(ca, "apiserver", {"DNS:apiserver.internal"}, false);
  KeyCert client = IssueCert(ca, "kmb-client", {}, true);
};
const Pki& GetPki() {
  static const Pki* pki = new Pki();
  return *pki;
}

std::unique_ptr<TestServer> StartHttp(TestServer::Handler h) {
  auto s = TestServer::Start({}, std::move(h));
  EXPECT_NE(s, nullptr);
  return s;
}

std::unique_ptr<TestServer> StartHttps(const KeyCert& cert, TestServer::Handler h,
                                       std::string client_ca = "") {
  TestServer::Options o;
  o.tls = true;
  o.server_cert = cert;
  o.client_ca_pem = std::move(client_ca);
  auto s = TestServer::Start(o, std::move(h));
  EXPECT_NE(s, nullptr);
  return s;
}

ClusterConfig Plain(const TestServer& s) {
  ClusterConfig c;
  c.server = s.url();
  c.credentials.token = kToken;
  return c;
}

KubeClientOptions Fast() {
  KubeClientOptions o;
  o.connect_timeout_seconds = 2;
  o.timeout_seconds = 5;
  return o;
}

TEST(KubeClientTest, OkBodyAndBearerToken) {
  auto server = StartHttp(
      [](const SeenRequest& r) { return Json(200, R"({"kind":"NodeList","items":[]})"); });
  KubeClient client(Plain(*server), Fast());
  HttpResponse resp;
  Status st = client.Get("/api/v1/nodes?limit=500", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, R"({"kind":"NodeList","items":[]})");
  EXPECT_EQ(resp.content_type, "application/json");
  EXPECT_GE(resp.body.capacity(), resp.body.size() + kHttpBodyPadding);
  EXPECT_GT(resp.seconds, 0);

  auto seen = server->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/api/v1/nodes?limit=500");
  EXPECT_EQ(seen[0].Header("authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(seen[0].Header("accept"), "application/json");
  EXPECT_EQ(seen[0].Header("user-agent"), "kube-metrics-bridge");
  EXPECT_THAT(seen[0].Header("accept-encoding"), HasSubstr("gzip"));
}

TEST(KubeClientTest, ServerWithPathPrefix) {
  auto server = StartHttp([](const SeenRequest&) { return Json(200, "{}"); });
  ClusterConfig c = Plain(*server);
  c.server += "/k8s/clusters/c-abc";
  KubeClient client(c, Fast());
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/api/v1/nodes", &resp).ok());
  EXPECT_EQ(server->requests().at(0).path, "/k8s/clusters/c-abc/api/v1/nodes");
}

TEST(KubeClientTest, Http4xxWithStatusMessage) {
  auto server = StartHttp(
      [](const SeenRequest& r) { return Json(r.path == "/api/v1/nodes" ? 403 : 401, kForbidden); });
  KubeClient client(Plain(*server), Fast());
  HttpResponse resp;
  Status st = client.Get("/api/v1/nodes", &resp);
  EXPECT_EQ(st.reason(), "http_4xx");
  EXPECT_EQ(st.message(), "GET " + server->url() +
                              "/api/v1/nodes: HTTP 403: nodes is forbidden: User "
                              "\"system:anonymous\" cannot list resource \"nodes\" in API group "
                              "\"\" at the cluster scope");
  EXPECT_EQ(resp.status, 403);
  EXPECT_EQ(resp.body, kForbidden);  // still available to the caller

  st = client.Get("/api/v1/pods", &resp);
  EXPECT_EQ(st.reason(), "http_4xx");
  EXPECT_THAT(st.message(), StartsWith("GET " + server->url() + "/api/v1/pods: HTTP 401: "));
}

TEST(KubeClientTest, Http5xxWithStatusMessageOrBodySnippet) {
  auto server = StartHttp([](const SeenRequest& r) {
    if (r.path == "/apis/metrics.k8s.io/v1beta1/nodes") {
      return Json(503, R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                       R"("message":"the server is currently unable to handle the request",)"
                       R"("reason":"ServiceUnavailable","code":503})");
    }
    ScriptedResponse html;
    html.status = 502;
    html.content_type = "text/html";
    html.body = "<html>\r\n<body>Bad\tGateway</body>\n</html>\n" + std::string(500, 'x');
    return html;
  });
  KubeClient client(Plain(*server), Fast());
  HttpResponse resp;
  Status st = client.Get("/apis/metrics.k8s.io/v1beta1/nodes", &resp);
  EXPECT_EQ(st.reason(), "http_5xx");
  EXPECT_EQ(st.message(), "GET " + server->url() +
                              "/apis/metrics.k8s.io/v1beta1/nodes: HTTP 503: the server is "
                              "currently unable to handle the request");

  st = client.Get("/healthz", &resp);
  EXPECT_EQ(st.reason(), "http_5xx");
  const std::string prefix = "GET " + server->url() + "/healthz: HTTP 502: ";
  EXPECT_THAT(st.message(), StartsWith(prefix + "<html> <body>Bad Gateway</body> </html> xxx"));
  EXPECT_LE(st.message().size(), prefix.size() + 200);
  EXPECT_EQ(st.message().find_first_of("\r\n\t"), std::string::npos);
}

TEST(KubeClientTest, ConnectionRefused) {
  ClusterConfig c;
  c.server = "http://127.0.0.1:" + std::to_string(ClosedPort());
  c.credentials.token = kToken;
  KubeClient client(c, Fast());
  HttpResponse resp;
  Status st = client.Get("/api/v1/nodes", &resp);
  EXPECT_EQ(st.reason(), "connect");
  EXPECT_THAT(st.message(), StartsWith("GET " + c.server + "/api/v1/nodes: "));
  EXPECT_THAT(st.message(), Not(HasSubstr(kToken)));
}

TEST(KubeClientTest, UnresolvableHost) {
  ClusterConfig c;
  c.server = "http://kmb-test.invalid:6443";
  KubeClient client(c, Fast());
  HttpResponse resp;
  EXPECT_EQ(client.Get("/version", &resp).reason(), "connect");
}

TEST(KubeClientTest, Timeout) {
  auto server = StartHttp([](const SeenRequest&) {
    ScriptedResponse r = Json(200, "{}");
    r.delay_ms = 1500;
    return r;
  });
  KubeClientOptions o = Fast();
  o.timeout_seconds = 0.3;
  KubeClient client(Plain(*server), o);
  HttpResponse resp;
  const auto start = std::chrono::steady_clock::now();
  Status st = client.Get("/api/v1/nodes", &resp);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(st.reason(), "timeout");
  EXPECT_THAT(st.message(), StartsWith("GET " + server->url() + "/api/v1/nodes: "));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1200));
}

TEST(KubeClientTest, TooLargeWithContentLength) {
  auto server = StartHttp([](const SeenRequest&) { return Json(200, std::string(10000, 'a')); });
  KubeClientOptions o = Fast();
  o.max_response_bytes = 1000;
  KubeClient client(Plain(*server), o);
  HttpResponse resp;
  Status st = client.Get("/api/v1/pods", &resp);
  EXPECT_EQ(st.reason(), "too_large");
  EXPECT_EQ(st.message(), "GET " + server->url() + "/api/v1/pods: response larger than 1000 bytes");
}

TEST(KubeClientTest, TooLargeChunkedAndAfterDecompression) {
  const std::string big(200000, 'a');
  auto server = StartHttp([&big](const SeenRequest& r) {
    ScriptedResponse resp = Json(200, big);
    if (r.path == "/chunked") {
      resp.chunked = true;
    } else {
      resp.body = Gzip(big);  // small on the wire, large decoded
      resp.headers = {{"Content-Encoding", "gzip"}};
    }
    return resp;
  });
  KubeClientOptions o = Fast();
  o.max_response_bytes = 100000;
  KubeClient client(Plain(*server), o);
  HttpResponse resp;
  EXPECT_EQ(client.Get("/chunked", &resp).reason(), "too_large");
  EXPECT_EQ(client.Get("/gzip", &resp).reason(), "too_large");
  // The limit is inclusive of an exact fit.
  KubeClientOptions exact = Fast();
  exact.max_response_bytes = big.size();
  KubeClient fits(Plain(*server), exact);
  Status st = fits.Get("/chunked", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(resp.body.size(), big.size());
  EXPECT_GE(resp.body.capacity(), resp.body.size() + kHttpBodyPadding);
}

TEST(KubeClientTest, GzipDecoded) {
  std::string json = "{\"items\":[";
  for (int i = 0; i < 1000; ++i) json += (i ? "," : "") + std::string("{\"name\":\"node\"}");
  json += "]}";
  auto server = StartHttp([&json](const SeenRequest& r) {
    ScriptedResponse resp = Json(200, Gzip(json));
    resp.headers = {{"Content-Encoding", "gzip"}};
    return resp;
  });
  KubeClient client(Plain(*server), Fast());
  HttpResponse resp;
  Status st = client.Get("/api/v1/pods", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(resp.body, json);
  EXPECT_GE(resp.body.capacity(), resp.body.size() + kHttpBodyPadding);
}

// A BodySink takes a 2xx body as it arrives (the poller's Metrics API lists): the bytes the
// body would have held, decoded from gzip, none in the body; Start() once per answer. A failed
// answer's body is the error text, in the body, and the sink hears nothing of it. The size
// limit holds for the sink too.
TEST(KubeClientTest, SinkTakesTheBodyOfA2xxAnswer) {
  std::string json = "{\"items\":[";
  for (int i = 0; i < 5000; ++i) json += (i ? "," : "") + std::string("{\"name\":\"node\"}");
  json += "]}";
  auto server = StartHttp([&json](const SeenRequest& r) {
    if (r.path == "/forbidden") return Json(403, kForbidden);
    ScriptedResponse resp = Json(200, r.path == "/empty" ? "" : json);
    if (r.path == "/gzip") {
      resp.body = Gzip(json);
      resp.headers = {{"Content-Encoding", "gzip"}};
    }
    resp.chunked = r.path == "/chunked";
    return resp;
  });
  struct Collect : BodySink {
    int starts = 0;
    int pieces = 0;
    std::string bytes;
    void Start() override {
      ++starts;
      bytes.clear();
    }
    void Bytes(std::string_view b) override {
      ++pieces;
      bytes.append(b);
    }
  };
  KubeClient client(Plain(*server), Fast());
  for (const char* path : {"/plain", "/chunked", "/gzip"}) {
    SCOPED_TRACE(path);
    Collect sink;
    HttpResponse resp;
    resp.sink = &sink;
    const Status st = client.Get(path, &resp);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(sink.bytes, json);
    EXPECT_EQ(sink.starts, 1);
    EXPECT_GE(sink.pieces, 1);
    EXPECT_TRUE(resp.body.empty());
    EXPECT_EQ(resp.status, 200);
  }
  Collect sink;
  HttpResponse resp;
  resp.sink = &sink;
  const Status st = client.Get("/forbidden", &resp);
  EXPECT_EQ(st.reason(), "http_4xx");
  EXPECT_THAT(st.message(), HasSubstr("nodes is forbidden"));
  EXPECT_EQ(resp.body, kForbidden);
  EXPECT_EQ(sink.starts, 0);
  EXPECT_TRUE(sink.bytes.empty());

  // A 2xx answer without a body starts the sink all the same: what an earlier attempt cut
  // short gave it must not pass for this answer's body (a retry relies on it).
  Collect empty;
  empty.bytes = "{\"items\":[{\"name\":";  // an attempt cut short
  resp = HttpResponse{};
  resp.sink = &empty;
  ASSERT_TRUE(client.Get("/empty", &resp).ok());
  EXPECT_EQ(empty.starts, 1);
  EXPECT_EQ(empty.pieces, 0);
  EXPECT_TRUE(empty.bytes.empty());

  KubeClientOptions small = Fast();
  small.max_response_bytes = json.size() - 1;
  KubeClient limited(Plain(*server), small);
  Collect cut;
  resp.sink = &cut;
  EXPECT_EQ(limited.Get("/chunked", &resp).reason(), "too_large");
  EXPECT_LT(cut.bytes.size(), json.size());
}

TEST(KubeClientTest, ReusesConnectionAndResponseBuffer) {
  auto server = StartHttp([](const SeenRequest&) { return Json(200, std::string(5000, 'b')); });
  KubeClient client(Plain(*server), Fast());
  HttpResponse resp;
  for (int i = 0; i < 5; ++i) {
    Status st = client.Get("/api/v1/nodes", &resp);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  EXPECT_EQ(server->requests().size(), 5u);
  EXPECT_EQ(server->connections(), 1u);
  EXPECT_EQ(client.connections_opened(), 1u);
}

TEST(KubeClientTest, ConcurrentRequestsUseThePool) {
  auto server = StartHttp([](const SeenRequest&) {
    ScriptedResponse r = Json(200, "{}");
    r.delay_ms = 50;
    return r;
  });
  KubeClient client(Plain(*server), Fast());
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        HttpResponse resp;
        if (client.Get("/api/v1/nodes", &resp).ok()) ++ok;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 4);
  }
  // At most one connection per concurrently used handle, kept across rounds.
  EXPECT_LE(client.connections_opened(), 4u);
  EXPECT_EQ(server->connections(), client.connections_opened());
}

TEST(KubeClientTest, TokenFileReReadWhenItChanges) {
  TempDir dir;
  auto server = StartHttp([](const SeenRequest&) { return Json(200, "{}"); });
  ClusterConfig c;
  c.server = server->url();
  c.credentials.token_file = dir.Write("token", "first-token\n");
  c.credentials.token = "first-token";
  KubeClient client(c, Fast());
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/a", &resp).ok());
  dir.Write("token", "rotated-token-longer\n");
  ASSERT_TRUE(client.Get("/b", &resp).ok());
  std::remove((dir.path() + "/token").c_str());  // unreadable: keep the last good one
  ASSERT_TRUE(client.Get("/c", &resp).ok());
  auto seen = server->requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].Header("authorization"), "Bearer first-token");
  EXPECT_EQ(seen[1].Header("authorization"), "Bearer rotated-token-longer");
  EXPECT_EQ(seen[2].Header("authorization"), "Bearer rotated-token-longer");
}

TEST(KubeClientTest, BasicAuth) {
  auto server = StartHttp([](const SeenRequest&) { return Json(200, "{}"); });
  ClusterConfig c;
  c.server = server->url();
  c.username = "admin";
  c.password = "pa55word";
  KubeClient client(c, Fast());
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/version", &resp).ok());
  EXPECT_EQ(server->requests().at(0).Header("authorization"), "Basic " + Base64("admin:pa55word"));
}

TEST(KubeClientTest, NoAuthorizationWithoutCredentials) {
  auto server = StartHttp([](const SeenRequest&) { return Json(200, "{}"); });
  ClusterConfig c;
  c.server = server->url() + "/";
  KubeClient client(c, Fast());
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/version", &resp).ok());
  EXPECT_EQ(server->requests().at(0).path, "/version");
  EXPECT_EQ(server->requests().at(0).Header("authorization"), "");
}

TEST(KubeClientTest, ProxyUrl) {
  // The API server host does not resolve: only a request through the proxy can succeed.
  RawHttpServer proxy("{\"via\":\"proxy\"}");
  ClusterConfig c;
  c.server = "http://kmb-apiserver.invalid:6443";
  c.proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  KubeClient client(c, Fast());
  HttpResponse resp;
  Status st = client.Get("/version", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(resp.body, "{\"via\":\"proxy\"}");
  EXPECT_THAT(proxy.request_lines(),
              ::testing::ElementsAre("GET http://kmb-apiserver.invalid:6443/version HTTP/1.1"));
}

TEST(KubeClientTest, TokenNeverInMessages) {
  // A hostile or buggy server echoing the Authorization header back in its error.
  auto server = StartHttp([](const SeenRequest& r) {
    const std::string auth = r.Header("authorization");
    if (r.path == "/status") {
      return Json(401, R"({"kind":"Status","message":"bad credentials: )" + auth + "\"}");
    }
    return Json(500, "echo: " + auth);
  });
  ClusterConfig c = Plain(*server);
  c.password = "also-secret-pw";
  KubeClient client(c, Fast());
  HttpResponse resp;
  std::vector<Status> results;
  results.push_back(client.Get("/status", &resp));
  results.push_back(client.Get("/raw", &resp));
  ClusterConfig refused = c;
  refused.server = "http://127.0.0.1:" + std::to_string(ClosedPort());
  KubeClient refused_client(refused, Fast());
  results.push_back(refused_client.Get("/x", &resp));
  ClusterConfig tls = c;
  tls.server = "https://127.0.0.1:" + std::to_string(server->port());  // TLS to a plain server
  KubeClient tls_client(tls, Fast());
  results.push_back(tls_client.Get("/x", &resp));
  for (const Status& st : results) {
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(st.message(), Not(HasSubstr(kToken)));
    EXPECT_THAT(st.message(), Not(HasSubstr("sekret")));
    EXPECT_THAT(st.message(), Not(HasSubstr("also-secret-pw")));
    EXPECT_THAT(st.message(), Not(HasSubstr("Authorization")));
  }
  EXPECT_THAT(results[0].message(), HasSubstr("bad credentials: Bearer <redacted>"));
}

// A short token (registered twice: current and configured) is replaced once per occurrence,
// and never inside a replacement: a one-letter secret used to turn "<redacted>" into
// "<redac<redacted>ed>" and every later letter of the message with it.
TEST(KubeClientTest, ShortSecretsAreRedactedOnceEach) {
  auto server = StartHttp([](const SeenRequest& r) {
    return Json(500, "echo: " + r.Header("authorization") + " and abc");
  });
  ClusterConfig c = Plain(*server);
  c.credentials.token = "ab";
  c.password = "abc";  // starts where the token does: the longer one is replaced
  KubeClient client(c, Fast());
  HttpResponse resp;
  const Status st = client.Get("/raw", &resp);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("echo: Bearer <redacted> and <redacted>"));
  EXPECT_THAT(st.message(), Not(HasSubstr("<redac<")));
  EXPECT_THAT(st.message(), Not(HasSubstr("<redacted>c")));
  EXPECT_THAT(st.message(), Not(HasSubstr("ab")));
}

// ---- TLS ---------------------------------------------------------------------------------

// An HTTPS server answering {} to every request.
std::unique_ptr<TestServer> StartHttpsOk(const KeyCert& cert, std::string client_ca = "") {
  return StartHttps(
      cert, [](const SeenRequest&) { return Json(200, "{}"); }, std::move(client_ca));
}

// Plain(s) trusting the suite's test CA.
ClusterConfig TrustingTestCa(const TestServer& s) {
  ClusterConfig c = Plain(s);
  c.ca_pem = GetPki().ca.cert_pem;
  return c;
}

// GET /version with a fresh client for `c`.
Status GetVersion(const ClusterConfig& c, const KubeClientOptions& options = Fast()) {
  KubeClient client(c, options);
  HttpResponse resp;
  return client.Get("/version", &resp);
}

TEST(KubeClientTlsTest, RightCaOkWrongCaFails) {
  const Pki& pki = GetPki();
  auto server = StartHttpsOk(pki.server);
  ClusterConfig c = TrustingTestCa(*server);
  Status st = GetVersion(c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(server->requests().at(0).Header("authorization"), std::string("Bearer ") + kToken);
  c.ca_pem = pki.other_ca.cert_pem;
  st = GetVersion(c);
  EXPECT_EQ(st.reason(), "tls");
  EXPECT_THAT(st.message(), StartsWith("GET " + server->url() + "/version: "));
  EXPECT_EQ(server->requests().size(), 1u);  // the request never reached the server

  // No CA configured: the system roots do not know our test CA.
  c.ca_pem.clear();
  EXPECT_EQ(GetVersion(c).reason(), "tls");
}

TEST(KubeClientTlsTest, InsecureSkipsVerification) {
  const Pki& pki = GetPki();
  auto server = StartHttpsOk(pki.named_server);
  ClusterConfig c = Plain(*server);
  c.insecure_skip_tls_verify = true;
  c.ca_pem = pki.other_ca.cert_pem;  // ignored
  Status st = GetVersion(c);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(KubeClientTlsTest, TlsServerName) {
  // The certificate names only apiserver.internal, not 127.0.0.1.
  auto server = StartHttpsOk(GetPki().named_server);
  ClusterConfig c = TrustingTestCa(*server);
  EXPECT_EQ(GetVersion(c).reason(), "tls");
  c.tls_server_name = "apiserver.internal";
  Status st = GetVersion(c);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(server->requests().size(), 1u);
  EXPECT_EQ(server->requests()[0].Header("host"), "127.0.0.1:" + std::to_string(server->port()));

  // Messages still name the configured server.
  c.tls_server_name = "wrong.internal";
  st = GetVersion(c);
  EXPECT_EQ(st.reason(), "tls");
  EXPECT_THAT(st.message(), StartsWith("GET " + server->url() + "/version: "));
}

TEST(KubeClientTlsTest, ClientCertificatePresented) {
  const Pki& pki = GetPki();
  auto server = StartHttpsOk(pki.server, pki.ca.cert_pem);
  ClusterConfig c = TrustingTestCa(*server);
  c.credentials = {};  // the certificate alone
  c.credentials.client_cert_pem = pki.client.cert_pem;
  c.credentials.client_key_pem = pki.client.key_pem;
  Status st = GetVersion(c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(server->requests().at(0).client_cert_subject, HasSubstr("kmb-client"));
  EXPECT_EQ(server->requests().at(0).Header("authorization"), "");
}

TEST(KubeClientTlsTest, ReusesTlsConnection) {
  auto server = StartHttpsOk(GetPki().server);
  KubeClient client(TrustingTestCa(*server), Fast());
  HttpResponse resp;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client.Get("/version", &resp).ok());
  EXPECT_EQ(server->connections(), 1u);
  EXPECT_EQ(client.connections_opened(), 1u);
}

// A watch the server ends (its timeoutSeconds) leaves the connection open: the next watch
// takes it up instead of a new TLS handshake, and plain requests keep their own handles.
TEST(KubeClientTlsTest, WatchesReuseTheirConnection) {
  auto server = StartHttps(GetPki().server, [](const SeenRequest& r) {
    ScriptedResponse resp = Json(200, "{\"type\":\"BOOKMARK\",\"object\":{}}\n");
    resp.chunked = r.path.find("watch=1") != std::string::npos;
    return resp;
  });
  KubeClient client(TrustingTestCa(*server), Fast());
  std::string seen;
  auto on_bytes = [&](std::string_view chunk) {
    seen.append(chunk);
    return true;
  };
  HttpResponse resp;
  for (int i = 0; i < 4; ++i) {
    const Status st = client.Stream("/api/v1/pods?watch=1&timeoutSeconds=1", 5, on_bytes, &resp);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(client.Get("/api/v1/pods?limit=500", &resp).ok());
  }
  EXPECT_EQ(seen.size(), 4 * std::string("{\"type\":\"BOOKMARK\",\"object\":{}}\n").size());
  EXPECT_EQ(server->requests().size(), 8u);
  EXPECT_EQ(server->connections(), 2u);  // one for the watches, one for the lists
  EXPECT_EQ(client.connections_opened(), 2u);
  // A watch cancelled by its reader closes its connection; the next one opens a new one.
  auto stop = [](std::string_view chunk) { return chunk.empty(); };
  ASSERT_TRUE(client.Stream("/api/v1/pods?watch=1", 5, stop, &resp).ok());
  ASSERT_TRUE(client.Stream("/api/v1/pods?watch=1", 5, on_bytes, &resp).ok());
  EXPECT_EQ(server->connections(), 3u);
  // ReloadFiles() drops the idle watch handle with the others.
  ASSERT_TRUE(client.ReloadFiles().ok());
  ASSERT_TRUE(client.Stream("/api/v1/pods?watch=1", 5, on_bytes, &resp).ok());
  EXPECT_EQ(server->connections(), 4u);
}

// An idle watch sleeps until a byte arrives or WakeStreams() wakes it: its reader is not asked
// every second whether to go on (libcurl's own loop, curl_easy_perform, wakes every second, two
// watches' ~4 ms of CPU per 15-s poll), and a reader stopped from another thread ends the
// watch at once, before the server's first byte.
TEST(KubeClientTest, IdleWatchSleepsUntilWoken) {
  auto server = StartHttp([](const SeenRequest&) {
    ScriptedResponse r = Json(200, "{\"type\":\"BOOKMARK\",\"object\":{}}\n");
    r.chunked = true;
    r.delay_ms = 5000;  // headers and the first event only after 5 s: an idle watch until then
    return r;
  });
  KubeClientOptions options = Fast();
  options.connect_timeout_seconds = 10;  // libcurl's connect timer fires once, past the test
  KubeClient client(Plain(*server), options);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  std::atomic<bool> stop{false};
  std::vector<double> asked;  // seconds after start of each empty-chunk call
  std::string seen;
  auto on_bytes = [&](std::string_view chunk) {
    if (chunk.empty()) asked.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    seen.append(chunk);
    return !stop.load();
  };
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    stop = true;
    client.WakeStreams();
  });
  HttpResponse resp;
  const Status st = client.Stream("/api/v1/pods?watch=1", 30, on_bytes, &resp);
  const double ended = std::chrono::duration<double>(Clock::now() - start).count();
  stopper.join();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(seen, "") << "the watch ended before the server's first byte";
  EXPECT_LT(ended, 4.9) << "the wake ended the watch, not the server's answer";
  // Asked while connecting and once the wake came; never between 0.5 and 3.4 s, while idle.
  for (double t : asked) {
    EXPECT_FALSE(t > 0.5 && t < 3.4) << "the idle watch woke up at " << t << " s";
  }
  ASSERT_FALSE(asked.empty());
  EXPECT_GE(asked.back(), 3.4);  // the last look: after the wake
}

TEST(KubeClientTlsTest, Http2OptionFallsBackToHttp11) {
  // civetweb speaks HTTP/1.1 only: ALPN must settle on it.
  auto server = StartHttpsOk(GetPki().server);
  KubeClientOptions o = Fast();
  o.http2 = true;
  Status st = GetVersion(TrustingTestCa(*server), o);
  EXPECT_TRUE(st.ok()) << st.message();
}

}  // namespace
}  // namespace kmb::kube_test
