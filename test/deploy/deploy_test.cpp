// What users plug in (issue 6), checked offline with the real tools: every kustomize layout
// renders (kubectl kustomize) and validates against the Kubernetes OpenAPI and prometheus-operator
// CRD schemas (npm kubernetes-models, test/deploy/validate.js); each source is polled by one
// workload, no two workloads' selectors overlap, the Service selects them all, and their
// replicas, run with the manifests' arguments against the simulated cluster, export together
// what one unsharded exporter exports, each series once; the ClusterRole asks for no more
// than the exporter uses; the rules pass promtool check and their unit tests; derived files
// (PrometheusRule, dashboards) match their sources; every dashboard panel has a unit and uses the
// ${datasource} variable; every alert has a runbook section and firing and silent tests.
// Running every query against a real Prometheus is test/e2e/queries_test.cpp.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "common/test_util.h"
#include "common/yaml_json.h"

namespace kmb {
namespace {

using nlohmann::json;
using testing::ParseYamlDocuments;
using testing::ReadFile;
using testing::RunCommand;

const std::string kSrc = KMB_SOURCE_DIR;
const std::vector<std::string> kLayouts = {"deploy/base", "deploy/overlays/daemonset",
                                           "deploy/overlays/sharded"};

// Runs `cmd` from the source tree; fails the test (and returns "") when it exits non-zero.
std::string RunInSource(const std::string& cmd, int* rc_out = nullptr) {
  std::string out;
  int rc = RunCommand("cd '" + kSrc + "' && " + cmd, &out);
  if (rc_out) {
    *rc_out = rc;
  } else {
    EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  }
  return out;
}

// `kubectl kustomize DIR` into `file` (kustomize prints deprecation warnings on stderr, which are
// shown only when it fails).
void KustomizeTo(const std::string& dir, const std::string& file) {
  std::string out;
  int rc =
      RunCommand("cd '" + kSrc + "' && { kubectl kustomize " + dir + " >'" + file + "'; }", &out);
  EXPECT_EQ(rc, 0) << "kubectl kustomize " << dir << "\n" << out;
}

// Rendered once per layout and test run (kubectl takes about a second per render).
const std::vector<json>& Render(const std::string& dir) {
  static std::map<std::string, std::vector<json>> cache;
  auto it = cache.find(dir);
  if (it == cache.end()) {
    testing::TempDir tmp;
    KustomizeTo(dir, tmp.file("out.yaml"));
    it = cache.emplace(dir, ParseYamlDocuments(ReadFile(tmp.file("out.yaml")))).first;
  }
  return it->second;
}

std::vector<json> OfKind(const std::vector<json>& objs, const std::string& kind) {
  std::vector<json> out;
  for (const auto& o : objs) {
    if (o.value("kind", "") == kind) out.push_back(o);
  }
  return out;
}

json LoadYaml(const std::string& rel) {
  auto docs = ParseYamlDocuments(ReadFile(kSrc + "/" + rel));
  EXPECT_EQ(docs.size(), 1u) << rel;
  return docs.empty() ? json::object() : docs[0];
}

// The workloads of a layout (Deployments, DaemonSets, StatefulSets): the base has one; the
// overlays a Summary workload and the Metrics API Deployment of deploy/metrics-api.
std::vector<json> Workloads(const std::vector<json>& objs) {
  std::vector<json> w;
  for (const char* kind : {"Deployment", "DaemonSet", "StatefulSet"}) {
    for (auto& o : OfKind(objs, kind)) w.push_back(o);
  }
  EXPECT_FALSE(w.empty());
  return w;
}

// The one object of `kind` in a layout.
json One(const std::vector<json>& objs, const std::string& kind) {
  auto w = OfKind(objs, kind);
  EXPECT_EQ(w.size(), 1u) << kind;
  return w.empty() ? json::object() : w[0];
}

std::string Name(const json& obj) { return obj["metadata"].value("name", ""); }

json Container(const json& workload) {
  return workload["spec"]["template"]["spec"]["containers"][0];
}

TEST(Kustomize, EveryLayoutRendersTheSameSupportingObjectsAndItsWorkloads) {
  const std::map<std::string, std::multiset<std::string>> workload_kinds = {
      {"deploy/base", {"Deployment"}},
      {"deploy/overlays/daemonset", {"DaemonSet", "Deployment"}},
      {"deploy/overlays/sharded", {"StatefulSet", "Deployment"}}};
  for (const auto& dir : kLayouts) {
    SCOPED_TRACE(dir);
    auto objs = Render(dir);
    std::multiset<std::string> kinds;
    for (const auto& o : objs) kinds.insert(o.value("kind", ""));
    std::multiset<std::string> expected = {"Namespace",          "ServiceAccount", "ClusterRole",
                                           "ClusterRoleBinding", "Service",        "ServiceMonitor",
                                           "PrometheusRule"};
    expected.insert(workload_kinds.at(dir).begin(), workload_kinds.at(dir).end());
    EXPECT_EQ(kinds, expected);
    for (const auto& o : objs) {
      if (o["kind"] == "Namespace" || o["kind"] == "ClusterRole" ||
          o["kind"] == "ClusterRoleBinding") {
        continue;
      }
      EXPECT_EQ(o["metadata"].value("namespace", ""), "kube-metrics-bridge") << o["kind"];
    }
  }
}

TEST(Kustomize, WorkloadsAreHardenedProbedAndSized) {
  for (const auto& dir : kLayouts) {
    for (const json& w : Workloads(Render(dir))) {
      SCOPED_TRACE(dir + " " + Name(w));
      const json& pod = w["spec"]["template"]["spec"];
      EXPECT_EQ(pod["serviceAccountName"], "kube-metrics-bridge");
      EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], "true");
      EXPECT_NE(pod["securityContext"].value("runAsUser", "0"), "0");
      EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
      ASSERT_EQ(pod["containers"].size(), 1u);
      const json& c = pod["containers"][0];
      EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], "true");
      EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], "false");
      EXPECT_EQ(c["securityContext"]["runAsNonRoot"], "true");
      EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
      EXPECT_FALSE(c["securityContext"]["capabilities"].contains("add"));
      EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz");
      EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/readyz");
      EXPECT_EQ(c["ports"][0]["containerPort"], "9834");
      for (const char* kind : {"requests", "limits"}) {
        EXPECT_TRUE(c["resources"][kind].contains("cpu")) << kind;
        EXPECT_TRUE(c["resources"][kind].contains("memory")) << kind;
      }
    }
  }
}

TEST(Kustomize, WorkloadArgumentsAreFlagsTheExporterKnows) {
  std::string help;
  ASSERT_EQ(RunCommand(std::string(KMB_BINARY) + " --help", &help), 0) << help;
  for (const auto& dir : kLayouts) {
    for (const json& w : Workloads(Render(dir))) {
      const json c = Container(w);  // not a temporary: the loop below refers into it
      for (const auto& a : c["args"]) {
        std::string flag = a.get<std::string>().substr(0, a.get<std::string>().find('='));
        if (help.find(flag) != std::string::npos) continue;
        ADD_FAILURE() << dir << " " << Name(w) << ": " << flag
                      << " is not in kube-metrics-bridge --help";
      }
    }
  }
}

std::string EnvFieldPath(const json& container, const std::string& name) {
  for (const auto& e : container.value("env", json::array())) {
    if (e["name"] == name) return e["valueFrom"]["fieldRef"]["fieldPath"];
  }
  return "";
}

bool HasArg(const json& container, const std::string& arg) {
  for (const auto& a : container["args"]) {
    if (a == arg) return true;
  }
  return false;
}

// The value of `--flag=VALUE` among the container's args, or "" when absent.
std::string ArgValue(const json& container, const std::string& flag) {
  for (const auto& a : container.value("args", json::array())) {
    const std::string s = a.get<std::string>();
    if (s.starts_with(flag + "=")) return s.substr(flag.size() + 1);
  }
  return "";
}

TEST(Kustomize, DaemonSetReadsOnlyItsOwnNodesKubeletDirectlyAndOnlyTheSummary) {
  json ds = One(Render("deploy/overlays/daemonset"), "DaemonSet");
  const json c = Container(ds);
  EXPECT_TRUE(HasArg(c, "--node-name=$(NODE_NAME)"));
  EXPECT_TRUE(HasArg(c, "--kubelet-access=direct"));
  EXPECT_TRUE(HasArg(c, "--sources=summary"));
  EXPECT_EQ(EnvFieldPath(c, "NODE_NAME"), "spec.nodeName");
}

TEST(Kustomize, StatefulSetShardsMatchItsReplicasAndPollOnlyTheSummary) {
  json ss = One(Render("deploy/overlays/sharded"), "StatefulSet");
  const json c = Container(ss);
  EXPECT_TRUE(HasArg(c, "--total-shards=" + ss["spec"]["replicas"].get<std::string>()));
  EXPECT_TRUE(HasArg(c, "--pod-name=$(POD_NAME)"));
  EXPECT_TRUE(HasArg(c, "--sources=summary"));
  EXPECT_EQ(EnvFieldPath(c, "POD_NAME"), "metadata.name");
  EXPECT_EQ(ss["spec"]["serviceName"], "kube-metrics-bridge");
}

TEST(Kustomize, OverlaysAddOneClusterWideMetricsApiReplica) {
  for (const char* dir : {"deploy/overlays/daemonset", "deploy/overlays/sharded"}) {
    SCOPED_TRACE(dir);
    json d = One(Render(dir), "Deployment");
    EXPECT_EQ(Name(d), "kube-metrics-bridge-metrics-api");
    EXPECT_EQ(d["spec"].value("replicas", ""), "1");
    const json c = Container(d);
    EXPECT_TRUE(HasArg(c, "--sources=metrics-api"));
    // Cluster-wide: not a shard, not node-local.
    for (const char* flag : {"--total-shards", "--shard", "--pod-name", "--node-name"}) {
      EXPECT_EQ(ArgValue(c, flag), "") << flag;
    }
  }
  // The base's one Deployment polls both sources.
  EXPECT_EQ(ArgValue(Container(One(Render("deploy/base"), "Deployment")), "--sources"), "");
}

// The sources a workload polls: --sources, else the exporter's default (both; node-local mode,
// --node-name, only the Summary).
std::set<std::string> Sources(const json& container) {
  std::string list = ArgValue(container, "--sources");
  if (list.empty())
    list = ArgValue(container, "--node-name").empty() ? "summary,metrics-api" : "summary";
  std::set<std::string> out;
  std::istringstream in(list);
  for (std::string s; std::getline(in, s, ',');) out.insert(s);
  return out;
}

TEST(Kustomize, EverySourceIsPolledByExactlyOneWorkloadOfALayout) {
  for (const auto& dir : kLayouts) {
    SCOPED_TRACE(dir);
    std::multiset<std::string> polled;
    for (const json& w : Workloads(Render(dir))) {
      for (const auto& s : Sources(Container(w))) polled.insert(s);
    }
    EXPECT_EQ(polled, (std::multiset<std::string>{"summary", "metrics-api"}));
  }
}

// The series (name and labels, no value) of a text exposition, without the exporter's own
// (kube_metrics_bridge_*, process_*), which every replica has.
std::vector<std::string> SeriesOf(const std::string& exposition) {
  std::vector<std::string> out;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with("#") || line.starts_with("kube_metrics_bridge_") ||
        line.starts_with("process_")) {
      continue;
    }
    const size_t brace = line.rfind('}');
    out.push_back(line.substr(0, brace != std::string::npos ? brace + 1 : line.find(' ')));
  }
  return out;
}

// Runs the exporter once with `args` against the cluster of `kubeconfig`; returns its stdout
// (its log goes to `log`, shown when it fails).
std::string ExportOnce(const std::vector<std::string>& args, const std::string& kubeconfig,
                       const std::string& log) {
  std::string cmd = std::string(KMB_BINARY) + " --once --kubeconfig '" + kubeconfig + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  std::string out;
  int rc = RunCommand("{ " + cmd + " 2>'" + log + "'; }", &out);
  EXPECT_EQ(rc, 0) << cmd << "\n" << ReadFile(log);
  return out;
}

// One replica of a rendered workload: its container's args with the downward-API variables
// ($(POD_NAME) from metadata.name, $(NODE_NAME) from spec.nodeName) filled in.
std::vector<std::string> ReplicaArgs(const json& container, const std::string& pod,
                                     const std::string& node) {
  std::map<std::string, std::string> env;
  for (const auto& e : container.value("env", json::array())) {
    const std::string path = e["valueFrom"]["fieldRef"].value("fieldPath", "");
    EXPECT_TRUE(path == "metadata.name" || path == "spec.nodeName") << path;
    env["$(" + e["name"].get<std::string>() + ")"] = path == "metadata.name" ? pod : node;
  }
  std::vector<std::string> args;
  for (const auto& a : container["args"]) {
    std::string arg = a;
    for (const auto& [var, value] : env) {
      for (size_t at; (at = arg.find(var)) != std::string::npos;)
        arg.replace(at, var.size(), value);
    }
    EXPECT_EQ(arg.find("$("), std::string::npos) << "unknown variable in " << arg;
    args.push_back(arg);
  }
  return args;
}

// Every replica of every workload of each layout, run with its manifest's arguments against one
// simulated cluster (API server, node proxy, per-node kubelets, metrics.k8s.io): together they
// export exactly the series of one unsharded exporter, each once. This is what the split into
// Summary-only workloads and one Metrics API replica must keep true.
TEST(Layouts, AllReplicasTogetherExportWhatOneExporterExportsEachSeriesOnce) {
  testing::TempDir dir;
  const std::string kc = dir.file("kubeconfig");
  testing::Child sim({KMB_BINARY, "simulate", "--tls", "--kubelets", "--nodes", "6",
                      "--pods-per-node", "3", "--pending-pods", "2", "--stats-period", "1h",
                      "--write-kubeconfig", kc},
                     dir.file("sim.out"), dir.file("sim.err"));
  ASSERT_FALSE(sim.WaitForLine("listening on").empty()) << sim.Stderr();

  const std::string reference = ExportOnce({}, kc, dir.file("reference.log"));
  std::set<std::string> expected;
  for (auto& s : SeriesOf(reference)) expected.insert(s);
  std::vector<std::string> nodes;  // the DaemonSet runs one pod on each
  const std::regex node_up(
      R"re(kube_metrics_bridge_source_up\{source="summary",node="([^"]+)"\})re");
  for (std::sregex_iterator m(reference.begin(), reference.end(), node_up), end; m != end; ++m) {
    nodes.push_back((*m)[1]);
  }
  ASSERT_EQ(nodes.size(), 6u) << reference;
  ASSERT_GT(expected.size(), 1000u);
  // Pending pods (no node, no Summary) have pod-spec series: one replica must export them.
  ASSERT_GT(std::count_if(expected.begin(), expected.end(),
                          [](const std::string& s) { return s.find("pod=\"pending-0\"") != s.npos; }),
            2);

  for (const auto& layout : kLayouts) {
    SCOPED_TRACE(layout);
    std::map<std::string, int> exported;  // series -> replicas exporting it
    int replicas = 0;
    for (const json& w : Workloads(Render(layout))) {
      const std::string name = Name(w);
      std::vector<std::pair<std::string, std::string>> pods;  // (pod name, node)
      if (w["kind"] == "DaemonSet") {
        for (const auto& n : nodes) pods.emplace_back(name + "-" + n, n);
      } else {
        const int n = std::stoi(w["spec"].value("replicas", "1"));
        for (int i = 0; i < n; ++i) pods.emplace_back(name + "-" + std::to_string(i), nodes[0]);
      }
      for (const auto& [pod, node] : pods) {
        ++replicas;
        const std::string out =
            ExportOnce(ReplicaArgs(Container(w), pod, node), kc, dir.file(pod + ".log"));
        for (auto& s : SeriesOf(out)) exported[s]++;
      }
    }
    EXPECT_EQ(replicas, layout == "deploy/base" ? 1 : layout == "deploy/overlays/sharded" ? 4 : 7);
    std::vector<std::string> twice, missing, extra;
    for (const auto& [s, n] : exported) {
      if (n > 1) twice.push_back(s);
      if (!expected.contains(s)) extra.push_back(s);
    }
    for (const auto& s : expected) {
      if (!exported.contains(s)) missing.push_back(s);
    }
    // Shown by name only: a wrong split repeats or loses whole families.
    auto first = [](const std::vector<std::string>& v) { return v.empty() ? "" : v[0]; };
    EXPECT_EQ(twice.size(), 0u) << "exported by several replicas, e.g. " << first(twice);
    EXPECT_EQ(missing.size(), 0u) << "exported by no replica, e.g. " << first(missing);
    EXPECT_EQ(extra.size(), 0u) << "not exported by one exporter, e.g. " << first(extra);
  }
}

// Whether a label selector (matchLabels, or a Service's plain map) selects pods with `labels`.
// matchExpressions are not used by the manifests and count as not selecting.
bool Selects(const json& selector, const json& labels) {
  const json& match = selector.contains("matchLabels") ? selector["matchLabels"] : selector;
  if (selector.contains("matchExpressions") || match.empty()) return false;
  for (const auto& [k, v] : match.items()) {
    if (!labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

// Pairs of workloads (by name) where one's selector selects the other's pods: the two
// controllers would fight over them.
std::vector<std::string> OverlappingSelectors(const std::vector<json>& workloads) {
  std::vector<std::string> out;
  for (const json& a : workloads) {
    for (const json& b : workloads) {
      if (&a == &b) continue;
      if (Selects(a["spec"]["selector"], b["spec"]["template"]["metadata"]["labels"])) {
        out.push_back(Name(a) + " (" + a["kind"].get<std::string>() + ") selects the pods of " +
                      Name(b) + " (" + b["kind"].get<std::string>() + ")");
      }
    }
  }
  return out;
}

TEST(Selectors, EachWorkloadSelectsOnlyItsOwnPodsByComponent) {
  for (const auto& dir : kLayouts) {
    SCOPED_TRACE(dir);
    const auto workloads = Workloads(Render(dir));
    for (const json& w : workloads) {
      SCOPED_TRACE(Name(w));
      const json& labels = w["spec"]["template"]["metadata"]["labels"];
      EXPECT_TRUE(Selects(w["spec"]["selector"], labels)) << "selects not even its own pods";
      EXPECT_FALSE(labels.value("app.kubernetes.io/component", "").empty());
      EXPECT_EQ(w["spec"]["selector"]["matchLabels"].value("app.kubernetes.io/component", ""),
                labels.value("app.kubernetes.io/component", ""));
    }
    EXPECT_EQ(OverlappingSelectors(workloads), std::vector<std::string>{});
  }
}

TEST(Selectors, TheCheckFindsOverlappingWorkloads) {
  // Before the split every workload selected only app.kubernetes.io/name.
  const json a = json::parse(R"({"kind":"StatefulSet","metadata":{"name":"a"},"spec":{
      "selector":{"matchLabels":{"app.kubernetes.io/name":"x"}},
      "template":{"metadata":{"labels":{"app.kubernetes.io/name":"x"}}}}})");
  const json b = json::parse(R"({"kind":"Deployment","metadata":{"name":"b"},"spec":{
      "selector":{"matchLabels":{"app.kubernetes.io/name":"x","app.kubernetes.io/component":"m"}},
      "template":{"metadata":{"labels":{"app.kubernetes.io/name":"x",
                                        "app.kubernetes.io/component":"m"}}}}})");
  EXPECT_EQ(OverlappingSelectors({a, b}),
            std::vector<std::string>{"a (StatefulSet) selects the pods of b (Deployment)"});
}

TEST(Selectors, TheServiceAndThePodMonitorSelectEveryWorkloadsPods) {
  const json pod_monitor = LoadYaml("deploy/examples/podmonitor.yaml");
  for (const auto& dir : kLayouts) {
    SCOPED_TRACE(dir);
    const auto& objs = Render(dir);
    const json service = One(objs, "Service");
    const json monitor = One(objs, "ServiceMonitor");
    EXPECT_TRUE(Selects(monitor["spec"]["selector"], service["metadata"]["labels"]));
    for (const json& w : Workloads(objs)) {
      const json& labels = w["spec"]["template"]["metadata"]["labels"];
      EXPECT_TRUE(Selects(service["spec"]["selector"], labels)) << Name(w);
      EXPECT_TRUE(Selects(pod_monitor["spec"]["selector"], labels)) << Name(w);
    }
  }
}

// The exporter's reads, and nothing more: (apiGroup, resource, verb).
const std::set<std::tuple<std::string, std::string, std::string>> kAllowedRbac = {
    {"", "nodes", "list"},
    {"", "nodes", "watch"},
    {"", "nodes/stats", "get"},
    {"", "nodes/proxy", "get"},
    {"", "pods", "list"},
    {"", "pods", "watch"},
    {"metrics.k8s.io", "nodes", "list"},
    {"metrics.k8s.io", "pods", "list"},
    {"apiregistration.k8s.io", "apiservices", "get"}};

// Every (group, resource, verb) a ClusterRole grants beyond kAllowedRbac, and every rule form
// that widens it otherwise (non-resource URLs, aggregation).
std::vector<std::string> RbacBeyondAllowed(const json& role) {
  std::vector<std::string> out;
  if (role.contains("aggregationRule")) out.push_back("aggregationRule");
  for (const auto& rule : role["rules"]) {
    if (rule.contains("nonResourceURLs")) out.push_back("nonResourceURLs");
    for (const auto& g : rule.value("apiGroups", json::array())) {
      for (const auto& r : rule.value("resources", json::array())) {
        for (const auto& v : rule.value("verbs", json::array())) {
          if (!kAllowedRbac.contains({g, r, v})) {
            out.push_back(v.get<std::string>() + " " + r.get<std::string>() + " in group \"" +
                          g.get<std::string>() + "\"");
          }
        }
      }
    }
  }
  return out;
}

TEST(Rbac, ClusterRoleAsksForNothingBeyondWhatTheExporterReads) {
  for (const auto& dir : kLayouts) {
    SCOPED_TRACE(dir);
    const auto& objs = Render(dir);
    EXPECT_TRUE(OfKind(objs, "Role").empty());
    EXPECT_TRUE(OfKind(objs, "RoleBinding").empty());
    auto roles = OfKind(objs, "ClusterRole");
    ASSERT_EQ(roles.size(), 1u);
    EXPECT_EQ(RbacBeyondAllowed(roles[0]), std::vector<std::string>{})
        << "the ClusterRole grants what the exporter does not use";
    auto bindings = OfKind(objs, "ClusterRoleBinding");
    ASSERT_EQ(bindings.size(), 1u);
    EXPECT_EQ(bindings[0]["roleRef"]["name"], roles[0]["metadata"]["name"]);
    EXPECT_EQ(bindings[0]["subjects"],
              json::parse(R"([{"kind":"ServiceAccount","name":"kube-metrics-bridge",
                              "namespace":"kube-metrics-bridge"}])"));
  }
}

TEST(Rbac, TheCheckFindsWiderGrants) {
  json role = json::parse(R"({"rules":[
      {"apiGroups":[""],"resources":["pods"],"verbs":["list","delete"]},
      {"apiGroups":["*"],"resources":["nodes"],"verbs":["list"]},
      {"apiGroups":[""],"resources":["secrets"],"verbs":["get"]},
      {"nonResourceURLs":["/metrics"],"verbs":["get"]}]})");
  EXPECT_EQ(RbacBeyondAllowed(role),
            (std::vector<std::string>{"delete pods in group \"\"", "list nodes in group \"*\"",
                                      "get secrets in group \"\"", "nonResourceURLs"}));
}

class SchemaValidation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string out;
    install_rc_ = RunCommand(kSrc + "/test/deploy/install.sh", &out);
    install_out_ = out;
  }
  void SetUp() override {
    ASSERT_EQ(install_rc_, 0) << "test/deploy/install.sh (npm ci) failed:\n" << install_out_;
  }
  static int Validate(const std::string& yaml_file, std::string* out) {
    return RunCommand("node '" + kSrc + "/test/deploy/validate.js' '" + yaml_file + "'", out);
  }
  static inline int install_rc_ = -1;
  static inline std::string install_out_;
};

TEST_F(SchemaValidation, EveryRenderedObjectAndExampleValidatesOffline) {
  testing::TempDir dir;
  std::string files;
  for (const auto& layout : kLayouts) {
    std::string file = dir.file(std::filesystem::path(layout).filename().string() + ".yaml");
    KustomizeTo(layout, file);
    files += "' '" + file;
  }
  files += "' '" + kSrc + "/deploy/examples/podmonitor.yaml";
  std::string out;
  EXPECT_EQ(Validate(files.substr(3), &out), 0) << out;
  // 8 objects per layout, the overlays' Metrics API Deployment and the PodMonitor.
  EXPECT_NE(out.find("27 objects, 0 invalid"), std::string::npos) << out;
}

TEST_F(SchemaValidation, TheValidatorRejectsAnInvalidObjectAndAnUnknownKind) {
  testing::TempDir dir;
  testing::WriteFile(dir.file("bad.yaml"),
                     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
                     "spec: {ports: [{port: not-a-number}]}\n---\n"
                     "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: y}\n");
  std::string out;
  EXPECT_EQ(Validate(dir.file("bad.yaml"), &out), 1) << out;
  EXPECT_NE(out.find("invalid v1/Service x"), std::string::npos) << out;
  EXPECT_NE(out.find("invalid example.com/v1/Gadget y: no schema"), std::string::npos) << out;
}

TEST(Rules, PromtoolChecksTheRulesAndRunsTheirUnitTests) {
  std::string out = RunInSource("promtool check rules deploy/prometheus/rules.yaml");
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
  out = RunInSource("promtool test rules deploy/prometheus/tests/*.yaml");
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
}

TEST(Rules, PrometheusRuleHoldsExactlyTheRulesFile) {
  RunInSource("deploy/generate.sh --check");
  json rules = LoadYaml("deploy/prometheus/rules.yaml");
  json pr = LoadYaml("deploy/common/prometheusrule.yaml");
  EXPECT_EQ(pr["kind"], "PrometheusRule");
  EXPECT_EQ(pr["spec"]["groups"], rules["groups"]);
}

std::vector<json> Alerts() {
  std::vector<json> out;
  const json rules = LoadYaml("deploy/prometheus/rules.yaml");
  for (const auto& g : rules["groups"]) {
    for (const auto& r : g["rules"]) {
      if (r.contains("alert")) out.push_back(r);
    }
  }
  return out;
}

// GitHub's heading anchors: lower case, spaces to '-', punctuation dropped.
std::set<std::string> MarkdownAnchors(const std::string& md) {
  std::set<std::string> out;
  std::istringstream in(md);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("#")) continue;
    std::string a;
    for (char ch : line.substr(line.find_first_not_of("# "))) {
      if (std::isalnum(static_cast<unsigned char>(ch))) a += std::tolower(ch);
      if (ch == ' ' || ch == '-') a += '-';
      if (ch == '_') a += '_';
    }
    out.insert(a);
  }
  return out;
}

TEST(Rules, EveryAlertHasSeverityForRunbookAndFiringAndSilentUnitTests) {
  const auto anchors = MarkdownAnchors(ReadFile(kSrc + "/docs/alerts.md"));
  std::map<std::string, std::pair<int, int>> tested;  // alertname -> (firing, silent) cases
  for (const auto& f : std::filesystem::directory_iterator(kSrc + "/deploy/prometheus/tests")) {
    const auto docs = ParseYamlDocuments(ReadFile(f.path()));
    ASSERT_EQ(docs.size(), 1u) << f.path();
    for (const auto& t : docs[0]["tests"]) {
      for (const auto& a : t.value("alert_rule_test", json::array())) {
        auto& [firing, silent] = tested[a["alertname"]];
        (a.value("exp_alerts", json::array()).empty() ? silent : firing)++;
      }
    }
  }
  auto alerts = Alerts();
  EXPECT_GE(alerts.size(), 12u);
  for (const auto& r : alerts) {
    const std::string name = r["alert"];
    SCOPED_TRACE(name);
    EXPECT_TRUE(r.contains("for"));
    const std::string sev = r["labels"].value("severity", "");
    EXPECT_TRUE(sev == "critical" || sev == "warning" || sev == "info") << sev;
    const std::string url = r["annotations"].value("runbook_url", "");
    EXPECT_TRUE(url.find("docs/alerts.md#") != std::string::npos) << url;
    std::string anchor = url.substr(url.find('#') + 1);
    EXPECT_TRUE(anchors.contains(anchor)) << "docs/alerts.md has no section #" << anchor;
    std::string lower;
    for (char ch : name) lower += std::tolower(ch);
    EXPECT_EQ(anchor, lower);
    EXPECT_GE(tested[name].first, 1) << "no promtool test where it fires";
    EXPECT_GE(tested[name].second, 1) << "no promtool test where it stays silent";
  }
}

TEST(ScrapeConfig, ExampleParsesWithPromtool) {
  // Debian's Prometheus is built without Kubernetes service discovery, so promtool cannot parse
  // kubernetes_sd_configs; check everything else by swapping it for a static target.
  YAML::Node cfg = YAML::LoadFile(kSrc + "/deploy/examples/prometheus.yml");
  for (auto sc : cfg["scrape_configs"]) {
    ASSERT_TRUE(sc["kubernetes_sd_configs"]) << "the example should use Kubernetes discovery";
    sc.remove("kubernetes_sd_configs");
    sc["static_configs"].push_back(YAML::Load("{targets: ['127.0.0.1:9834']}"));
    EXPECT_EQ(sc["job_name"].as<std::string>(), "kube-metrics-bridge");
    EXPECT_TRUE(sc["honor_labels"].as<bool>());
  }
  testing::TempDir dir;
  YAML::Emitter e;
  e << cfg;
  testing::WriteFile(dir.file("prometheus.yml"), e.c_str());
  std::filesystem::copy_file(kSrc + "/deploy/prometheus/rules.yaml",
                             dir.file("kube-metrics-bridge-rules.yaml"));
  std::string out;
  EXPECT_EQ(RunCommand("promtool check config " + dir.file("prometheus.yml"), &out), 0) << out;
}

std::vector<std::pair<std::string, json>> Dashboards() {
  std::vector<std::pair<std::string, json>> out;
  for (const auto& f : std::filesystem::directory_iterator(kSrc + "/dashboards")) {
    if (f.path().extension() != ".json") continue;
    out.emplace_back(f.path().filename().string(), json::parse(ReadFile(f.path())));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return out;
}

TEST(Dashboards, GeneratedFilesAreUpToDate) { RunInSource("node dashboards/generate.js --check"); }

TEST(Dashboards, EveryPanelHasAUnitTheDatasourceVariableAndDeclaredVariables) {
  auto dashboards = Dashboards();
  ASSERT_EQ(dashboards.size(), 5u);
  std::set<std::string> uids;
  const std::regex var_ref(R"(\$\{?([A-Za-z_][A-Za-z0-9_]*))");
  for (const auto& [file, d] : dashboards) {
    SCOPED_TRACE(file);
    EXPECT_GE(d["schemaVersion"].get<int>(), 39);
    EXPECT_TRUE(uids.insert(d["uid"]).second) << "duplicate uid";
    EXPECT_FALSE(d.contains("__inputs")) << "the same file must work for provisioning";
    std::set<std::string> declared, used;
    for (const auto& v : d["templating"]["list"]) declared.insert(v["name"]);
    EXPECT_TRUE(declared.contains("datasource"));
    EXPECT_TRUE(declared.contains("cluster"));
    for (const auto& v : d["templating"]["list"]) {
      if (v["name"] == "datasource") {
        EXPECT_EQ(v["type"], "datasource");
        EXPECT_EQ(v["query"], "prometheus");
      } else {
        EXPECT_EQ(v["datasource"]["uid"], "${datasource}") << v["name"];
        std::string q = v["definition"];
        for (std::sregex_iterator m(q.begin(), q.end(), var_ref), end; m != end; ++m) {
          used.insert((*m)[1]);
        }
      }
    }
    ASSERT_FALSE(d["panels"].empty());
    for (const auto& p : d["panels"]) {
      SCOPED_TRACE(p["title"].get<std::string>());
      EXPECT_FALSE(p["fieldConfig"]["defaults"].value("unit", "").empty());
      EXPECT_EQ(p["datasource"]["uid"], "${datasource}");
      ASSERT_FALSE(p["targets"].empty());
      for (const auto& t : p["targets"]) {
        EXPECT_EQ(t["datasource"]["uid"], "${datasource}");
        std::string expr = t["expr"];
        EXPECT_FALSE(expr.empty());
        if (expr.find("kube_metrics_bridge_build_info") == std::string::npos) {
          EXPECT_NE(expr.find("cluster=~\"$cluster\""), std::string::npos) << expr;
        }
        for (std::sregex_iterator m(expr.begin(), expr.end(), var_ref), end; m != end; ++m) {
          std::string name = (*m)[1];
          if (name.starts_with("__")) continue;  // Grafana's own, like $__rate_interval
          used.insert(name);
          EXPECT_TRUE(declared.contains(name)) << "$" << name << " is not declared: " << expr;
        }
      }
    }
    used.insert("datasource");
    EXPECT_EQ(used, declared) << "a declared variable no panel uses";
  }
}

TEST(Dashboards, ProvisioningProviderPointsAtAFolderOfTheseFiles) {
  json p = LoadYaml("dashboards/provisioning/kube-metrics-bridge.yaml");
  ASSERT_EQ(p["providers"].size(), 1u);
  EXPECT_EQ(p["providers"][0]["type"], "file");
  EXPECT_FALSE(p["providers"][0]["options"].value("path", "").empty());
}

TEST(Containerfile, RuntimeStageInstallsThePackageOfEveryLibraryTheBinaryNeeds) {
  const std::string cf = ReadFile(kSrc + "/deploy/Containerfile");
  const size_t runtime = cf.find("FROM debian:bookworm-slim");
  ASSERT_NE(cf.find("FROM debian:bookworm AS build"), std::string::npos);
  ASSERT_NE(runtime, std::string::npos);
  EXPECT_NE(cf.find("scripts/install-deps.sh"), std::string::npos);
  EXPECT_NE(cf.find("USER 65532:65532", runtime), std::string::npos);
  // Direct NEEDED libraries -> their Debian packages (dpkg -S) -> must be in the runtime stage,
  // except what bookworm-slim already has.
  // (The sanitizer runtimes are only linked by the sanitizer build of the tests.)
  const std::set<std::string> in_slim = {"libc6",    "libstdc++6", "libgcc-s1",
                                         "libasan8", "libubsan1",  "liblsan0"};
  std::string needed, ldd;
  ASSERT_EQ(
      RunCommand(std::string("objdump -p ") + KMB_BINARY + " | awk '/NEEDED/ {print $2}'", &needed),
      0);
  ASSERT_EQ(RunCommand(std::string("ldd ") + KMB_BINARY, &ldd), 0);
  // One dpkg -S for all libraries; with merged /usr a file may be registered under /lib.
  std::string paths;
  std::istringstream libs(needed);
  for (std::string lib; std::getline(libs, lib);) {
    size_t at = ldd.find("\t" + lib + " => ");
    ASSERT_NE(at, std::string::npos) << lib;
    at += lib.size() + 5;
    std::string real = std::filesystem::canonical(ldd.substr(at, ldd.find(' ', at) - at));
    paths += " " + real + (real.starts_with("/usr/") ? " " + real.substr(4) : "");
  }
  std::string owners;
  RunCommand("dpkg -S" + paths, &owners);  // non-zero: some variant is unknown
  std::istringstream lines(owners);
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("dpkg-query:")) continue;  // the variant of a path that is not known
    std::string pkg = line.substr(0, line.find(':'));
    ++checked;
    if (in_slim.contains(pkg)) continue;
    EXPECT_NE(cf.find(" " + pkg, runtime), std::string::npos)
        << line << ": the runtime stage does not install " << pkg;
  }
  EXPECT_GE(checked, 8);
}

}  // namespace
}  // namespace kmb
