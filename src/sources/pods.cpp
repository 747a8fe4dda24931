#include "kmb/sources/pods.h"

#include <simdjson.h>

#include <algorithm>

#include "json_walk.h"
#include "kmb/sources/quantity.h"
#include "node_status.h"

namespace kmb {
namespace {

namespace dom = simdjson::dom;

std::string_view Str(dom::element e, std::string_view key) {
  std::string_view v;
  if (e[key].get_string().get(v)) return {};
  return v;
}

bool Allowed(const std::vector<std::string>& keys, std::string_view key) {
  for (const std::string& k : keys) {
    if (k == "*" || k == key) return true;
  }
  return false;
}

// Reads {"cpu": "100m", "memory": "1Gi", "ephemeral-storage": ...}; a quantity that does not
// parse is an error naming it.
std::string ReadAmounts(dom::element obj, ResourceAmounts* out) {
  dom::object o;
  if (obj.get_object().get(o)) return "";
  for (auto [key, value] : o) {
    Amount* slot = key == "cpu"                 ? &out->cpu
                   : key == "memory"            ? &out->memory
                   : key == "ephemeral-storage" ? &out->ephemeral_storage
                                                : nullptr;
    if (slot == nullptr) continue;
    std::string_view text;
    if (value.get_string().get(text)) return std::string(key) + " quantity is not a string";
    std::string err;
    std::optional<Quantity> q = Quantity::Parse(text, &err);
    if (!q) return std::string(key) + " quantity \"" + std::string(text) + "\": " + err;
    *slot = q->ToDouble();
  }
  return "";
}

std::string ReadResources(dom::element holder, ResourceAmounts* requests, ResourceAmounts* limits) {
  dom::element res;
  if (holder["resources"].get(res)) return "";
  if (dom::element r; !res["requests"].get(r)) {
    if (auto e = ReadAmounts(r, requests); !e.empty()) return "requests " + e;
  }
  if (dom::element l; !res["limits"].get(l)) {
    if (auto e = ReadAmounts(l, limits); !e.empty()) return "limits " + e;
  }
  return "";
}

void Add(std::optional<double>& sum, const std::optional<double>& v) {
  if (v) sum = sum.value_or(0) + *v;
}
void Max(std::optional<double>& m, const std::optional<double>& v) {
  if (v && (!m || *v > *m)) m = v;
}

// The kubelet's pod total of one resource (k8s.io/component-helpers resource.PodRequests /
// PodLimits): app containers plus sidecars, at least each regular init container plus the
// sidecars before it. `all_set` tells whether every app container and sidecar set it.
struct Totaler {
  std::optional<double> sum, sidecars, init_max;
  bool all_set = true;
  void App(const std::optional<double>& v) {
    Add(sum, v);
    all_set &= v.has_value();
  }
  void Init(const std::optional<double>& v, bool sidecar) {
    if (sidecar) {
      Add(sum, v);
      Add(sidecars, v);
      all_set &= v.has_value();
      Max(init_max, sidecars);
    } else {
      std::optional<double> t = sidecars;
      Add(t, v);
      Max(init_max, t);
    }
  }
  std::optional<double> Total(const std::optional<double>& overhead) const {
    std::optional<double> t = sum;
    Max(t, init_max);
    if (t) Add(t, overhead);
    return t;
  }
};

struct ContainerDecl {
  std::string_view name;
  ResourceAmounts requests, limits;
  bool sidecar = false;
};

// Effective requests/limits of the containers in spec.<key>, with status.<status_key>[].resources
// taking precedence.
std::string ReadContainers(dom::element spec, dom::element status, std::string_view key,
                           std::string_view status_key, std::vector<ContainerDecl>* out,
                           std::vector<PodContainer>* app) {
  dom::array arr;
  if (spec[key].get_array().get(arr)) return "";
  for (dom::element c : arr) {
    ContainerDecl d;
    d.name = Str(c, "name");
    d.sidecar = Str(c, "restartPolicy") == "Always";
    if (auto e = ReadResources(c, &d.requests, &d.limits); !e.empty()) {
      return std::string(key) + " " + std::string(d.name) + ": " + e;
    }
    out->push_back(d);
  }
  dom::array statuses;
  if (!status[status_key].get_array().get(statuses)) {
    for (dom::element cs : statuses) {
      dom::element res;
      if (cs["resources"].get(res)) continue;
      const std::string_view name = Str(cs, "name");
      auto it = std::find_if(out->begin(), out->end(),
                             [&](const ContainerDecl& d) { return d.name == name; });
      if (it == out->end()) continue;
      ResourceAmounts rq, lm;
      if (auto e = ReadResources(cs, &rq, &lm); !e.empty()) {
        return std::string(status_key) + " " + std::string(name) + ": " + e;
      }
      // The allocated values of what the status names (cpu, memory: what a resize changes).
      for (auto f :
           {&ResourceAmounts::cpu, &ResourceAmounts::memory, &ResourceAmounts::ephemeral_storage}) {
        if (rq.*f) it->requests.*f = rq.*f;
        if (lm.*f) it->limits.*f = lm.*f;
      }
    }
  }
  if (app) {
    size_t i = 0;
    for (dom::element c : arr) {
      PodContainer pc;
      pc.name = std::string((*out)[i].name);
      pc.image = std::string(Str(c, "image"));
      pc.requests = (*out)[i].requests;
      pc.limits = (*out)[i].limits;
      app->push_back(std::move(pc));
      ++i;
    }
  }
  return "";
}

std::string DecodePodElement(dom::element item, const PodDecodeOptions& options, Pod* pod) {
  dom::element meta, spec, status;
  if (item["metadata"].get(meta)) return "a pod has no metadata";
  pod->namespace_ = std::string(Str(meta, "namespace"));
  pod->name = std::string(Str(meta, "name"));
  if (pod->name.empty()) return "a pod has no metadata.name";
  const std::string where = "pod " + pod->namespace_ + "/" + pod->name + ": ";
  pod->uid = std::string(Str(meta, "uid"));
  pod->resource_version = std::string(Str(meta, "resourceVersion"));
  dom::array owners;
  if (!meta["ownerReferences"].get_array().get(owners)) {
    for (dom::element o : owners) {
      bool controller = false;
      if (!o["controller"].get_bool().get(controller) && controller) {
        pod->owner_kind = std::string(Str(o, "kind"));
        pod->owner_name = std::string(Str(o, "name"));
        break;
      }
    }
  }
  auto read_map = [&](std::string_view key, const std::vector<std::string>& allow,
                      std::vector<std::pair<std::string, std::string>>* out) {
    dom::object m;
    if (allow.empty() || meta[key].get_object().get(m)) return;
    for (auto [k, v] : m) {
      std::string_view s;
      if (!Allowed(allow, k) || v.get_string().get(s)) continue;
      out->emplace_back(std::string(k), std::string(s));
    }
  };
  if (dom::element ann; !meta["annotations"].get(ann)) {
    pod->mirror_uid = std::string(Str(ann, "kubernetes.io/config.mirror"));
  }
  read_map("labels", options.label_keys, &pod->labels);
  read_map("annotations", options.annotation_keys, &pod->annotations);

  const bool has_spec = !item["spec"].get(spec);
  const bool has_status = !item["status"].get(status);
  if (has_status) {
    pod->phase = std::string(Str(status, "phase"));
    pod->qos_class = std::string(Str(status, "qosClass"));
  }
  if (!has_spec) return "";
  pod->node = std::string(Str(spec, "nodeName"));
  if (!has_status) status = spec;  // no status: nothing to override (keys differ)

  std::vector<ContainerDecl> app, init;
  if (auto e =
          ReadContainers(spec, status, "containers", "containerStatuses", &app, &pod->containers);
      !e.empty()) {
    return where + e;
  }
  if (auto e =
          ReadContainers(spec, status, "initContainers", "initContainerStatuses", &init, nullptr);
      !e.empty()) {
    return where + e;
  }
  ResourceAmounts overhead, pod_requests, pod_limits;
  if (dom::element o; !spec["overhead"].get(o)) {
    if (auto e = ReadAmounts(o, &overhead); !e.empty()) return where + "overhead " + e;
  }
  if (auto e = ReadResources(spec, &pod_requests, &pod_limits); !e.empty()) {
    return where + "spec.resources " + e;
  }
  using Field = Amount ResourceAmounts::*;
  for (Field f :
       {&ResourceAmounts::cpu, &ResourceAmounts::memory, &ResourceAmounts::ephemeral_storage}) {
    Totaler rq, lm;
    for (const ContainerDecl& c : init) {
      rq.Init(c.requests.*f, c.sidecar);
      lm.Init(c.limits.*f, c.sidecar);
    }
    for (const ContainerDecl& c : app) {
      rq.App(c.requests.*f);
      lm.App(c.limits.*f);
    }
    pod->requests.*f = pod_requests.*f ? pod_requests.*f : Amount(rq.Total(overhead.*f));
    const bool complete = (pod_requests.*f).has_value() || (rq.all_set && !app.empty());
    if (f == &ResourceAmounts::cpu) pod->cpu_request_complete = complete;
    if (f == &ResourceAmounts::memory) pod->memory_request_complete = complete;
    pod->limits.*f = pod_limits.*f                ? pod_limits.*f
                     : lm.all_set && !app.empty() ? Amount(lm.Total(overhead.*f))
                                                  : Amount();
  }
  return "";
}

std::string DecodeNodeElement(dom::element item, const PodDecodeOptions&, NodeObject* node) {
  dom::element meta;
  if (item["metadata"].get(meta)) return "a node has no metadata";
  node->name = std::string(Str(meta, "name"));
  if (node->name.empty()) return "a node has no metadata.name";
  node->resource_version = std::string(Str(meta, "resourceVersion"));
  dom::element status;
  if (!item["status"].get(status)) {
    if (std::string e = ReadNodeStatus(status, &node->endpoint); !e.empty()) {
      return "node " + node->name + ": " + e;
    }
  }
  return "";
}

template <typename T, typename Decode>
Status DecodeList(std::string_view body, std::string_view kind, const PodDecodeOptions& options,
                  ObjectListPage<T>* page, Decode decode) {
  // With the decoder states' pooled parsers, a large page (start, relist) in batches of items:
  // no parser grows to a page (~14 bytes per byte of it: 22 MB for 500 pods) or stays behind.
  const size_t items_before = page->items.size(), errors_before = page->errors.size();
  const auto forget_page = [&] {  // what this page added, if anything
    page->items.resize(items_before);
    page->errors.resize(errors_before);
  };
  bool not_array = false;
  size_t index = 0;
  const char* invalid = walk::ParseList(
      body, "items",
      [&](dom::element root) {  // first, or again from the start (json_walk.h)
        forget_page();
        index = 0;
        not_array = false;
        dom::element meta;
        if (!root["metadata"].get(meta)) {
          page->continue_token = std::string(Str(meta, "continue"));
          page->resource_version = std::string(Str(meta, "resourceVersion"));
        }
        dom::element items;
        if (!root["items"].get(items) && !items.is_array() && !items.is_null()) {
          not_array = true;
        }
      },
      [&](dom::element item) {
        T obj;
        if (std::string e = decode(item, options, &obj); !e.empty()) {
          page->errors.push_back(std::string(kind) + " item " + std::to_string(index) + ": " + e);
        } else {
          page->items.push_back(std::move(obj));
        }
        ++index;
      });
  if (invalid != nullptr) {
    forget_page();
    return Status::Error(reason::kDecode, std::string(kind) + ": not valid JSON: " + invalid);
  }
  if (not_array) {
    return Status::Error(reason::kDecode, std::string(kind) + ": items is not an array");
  }
  return Status::Ok();
}

// A watch event's root: its type and object.
template <typename T, typename Decode, typename Fail>
Status DecodeEventRoot(dom::element root, std::string_view kind, const PodDecodeOptions& options,
                       WatchEvent<T>* event, Decode decode, Fail fail) {
  dom::element obj;
  const std::string_view type = Str(root, "type");
  if (root["object"].get(obj)) return fail("no object");
  if (type == "ADDED") {
    event->type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event->type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event->type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    event->type = WatchEventType::kBookmark;
    dom::element meta;
    if (!obj["metadata"].get(meta))
      event->resource_version = std::string(Str(meta, "resourceVersion"));
    return Status::Ok();
  } else if (type == "ERROR") {
    event->type = WatchEventType::kError;
    int64_t code = 0;
    if (obj["code"].get_int64().get(code)) code = 0;
    event->error_code = static_cast<int>(code);
    event->error_message = std::string(Str(obj, "message"));
    return Status::Ok();
  } else {
    return fail("unknown type \"" + std::string(type) + "\"");
  }
  if (std::string e = decode(obj, options, &event->object); !e.empty()) return fail(e);
  event->resource_version = event->object.resource_version;
  return Status::Ok();
}

template <typename T, typename Decode>
Status DecodeEvent(std::string_view line, std::string_view kind, const PodDecodeOptions& options,
                   WatchEvent<T>* event, Decode decode) {
  auto fail = [&](std::string_view what) {
    return Status::Error(reason::kDecode, std::string(kind) + " watch event: " + std::string(what));
  };
  Status status = Status::Ok();
  const char* invalid = walk::ParseDocument(line, [&](dom::element root) {
    status = DecodeEventRoot(root, kind, options, event, decode, fail);
  });
  if (invalid != nullptr) return fail("not valid JSON");
  return status;
}

}  // namespace

Status DecodePodList(std::string_view body, const PodDecodeOptions& options,
                     ObjectListPage<Pod>* page) {
  return DecodeList(body, "PodList", options, page, DecodePodElement);
}

Status DecodeNodeObjectList(std::string_view body, ObjectListPage<NodeObject>* page) {
  return DecodeList(body, "NodeList", PodDecodeOptions{}, page, DecodeNodeElement);
}

Status DecodePodWatchEvent(std::string_view line, const PodDecodeOptions& options,
                           WatchEvent<Pod>* event) {
  return DecodeEvent(line, "Pod", options, event, DecodePodElement);
}

Status DecodeNodeWatchEvent(std::string_view line, WatchEvent<NodeObject>* event) {
  return DecodeEvent(line, "Node", PodDecodeOptions{}, event, DecodeNodeElement);
}

}  // namespace kmb
