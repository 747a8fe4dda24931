#include "kmb/sources/node_list.h"

#include <simdjson.h>

namespace kmb {
namespace {

namespace od = simdjson::ondemand;

// Walks a core/v1 List page: metadata.continue and metadata.resourceVersion into the
// out-params (either may be null), and every item, as an object, to `on_item`, which returns
// an error text or "" to go on. The parser is reused across pages and polls.
template <typename OnItem>
Status WalkList(std::string_view body, std::string_view kind, std::string* continue_token,
                std::string* resource_version, OnItem&& on_item) {
  thread_local od::parser parser;
  // On-demand parsing needs SIMDJSON_PADDING readable bytes past the end: copy once.
  simdjson::padded_string padded(body);
  auto fail = [&](std::string_view what) {
    return Status::Error(reason::kDecode, std::string(kind) + ": " + std::string(what));
  };
  od::document doc;
  if (parser.iterate(padded).get(doc)) return fail("not JSON");
  od::object root;
  if (doc.get_object().get(root)) return fail("not a JSON object");
  for (auto field : root) {
    std::string_view key;
    if (field.error() || field.unescaped_key().get(key)) return fail("malformed or truncated");
    if (key == "metadata") {
      od::object meta;
      if (field.value().get_object().get(meta)) return fail("metadata is not an object");
      for (auto mf : meta) {
        std::string_view mk, v;
        if (mf.error() || mf.unescaped_key().get(mk)) return fail("malformed metadata");
        if (mk == "continue" && continue_token && !mf.value().get_string().get(v)) {
          continue_token->assign(v);
        } else if (mk == "resourceVersion" && resource_version && !mf.value().get_string().get(v)) {
          resource_version->assign(v);
        }
      }
    } else if (key == "items") {
      od::array items;
      if (field.value().get_array().get(items)) return fail("items is not an array");
      for (auto item : items) {
        od::object obj;
        if (item.error() || item.get_object().get(obj)) return fail("an item is not an object");
        if (std::string error = on_item(obj); !error.empty()) return fail(error);
      }
    }
  }
  const char* after = nullptr;
  if (doc.current_location().get(after) != simdjson::OUT_OF_BOUNDS) {
    return fail("trailing content after the list");
  }
  return Status::Ok();
}

// The string fields `keys` of `obj` (first match each); "" when absent.
template <size_t N>
std::string ReadStrings(od::object obj, const std::string_view (&keys)[N],
                        std::string_view (&out)[N]) {
  size_t found = 0;
  for (auto f : obj) {
    std::string_view k;
    if (f.error() || f.unescaped_key().get(k)) return "malformed object";
    for (size_t i = 0; i < N; ++i) {
      if (k != keys[i] || !out[i].empty()) continue;
      if (f.value().get_string().get(out[i])) return std::string(k) + " is not a string";
      if (++found == N) return "";
    }
  }
  return "";
}

// status.addresses and status.daemonEndpoints.kubeletEndpoint.Port of a Node's `status`.
std::string ReadNodeStatus(od::object status, NodeEndpoint* out) {
  for (auto f : status) {
    std::string_view k;
    if (f.error() || f.unescaped_key().get(k)) return "malformed status";
    if (k == "addresses") {
      od::array list;
      if (f.value().get_array().get(list)) return "status.addresses is not an array";
      for (auto a : list) {
        od::object obj;
        std::string_view fields[2] = {};
        if (a.error() || a.get_object().get(obj)) return "an address is not an object";
        if (auto e = ReadStrings(obj, {"type", "address"}, fields); !e.empty()) return e;
        if (!fields[1].empty()) out->addresses.emplace_back(fields[0], fields[1]);
      }
    } else if (k == "daemonEndpoints") {
      int64_t port = 0;
      od::object de;
      if (f.value().get_object().get(de)) return "status.daemonEndpoints is not an object";
      auto p = de.find_field_unordered("kubeletEndpoint").find_field_unordered("Port");
      if (!p.error() && !p.get_int64().get(port) && port > 0 && port < 65536) {
        out->kubelet_port = static_cast<int>(port);
      }
    }
  }
  return "";
}

// A Node object: metadata.name, and with `endpoint` its status.
std::string ReadNode(od::object item, std::string* name, NodeEndpoint* endpoint) {
  for (auto f : item) {
    std::string_view k;
    od::object sub;
    if (f.error() || f.unescaped_key().get(k)) return "malformed item";
    if (k == "metadata") {
      std::string_view n[1] = {};
      if (f.value().get_object().get(sub)) return "metadata is not an object";
      if (auto e = ReadStrings(sub, {"name"}, n); !e.empty()) return e;
      name->assign(n[0]);
    } else if (k == "status" && endpoint) {
      if (f.value().get_object().get(sub)) return "status is not an object";
      if (auto e = ReadNodeStatus(sub, endpoint); !e.empty()) return e;
    }
  }
  if (name->empty()) return "an item has no metadata.name";
  return "";
}

}  // namespace

Status DecodeNode(std::string_view body, std::string* name, NodeEndpoint* endpoint) {
  thread_local od::parser parser;
  simdjson::padded_string padded(body);
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) {
    return Status::Error(reason::kDecode, "Node: not a JSON object");
  }
  name->clear();
  *endpoint = NodeEndpoint{};
  if (std::string e = ReadNode(obj, name, endpoint); !e.empty()) {
    return Status::Error(reason::kDecode, "Node: " + e);
  }
  return Status::Ok();
}

Status DecodeNodeList(std::string_view body, NodeListPage* page) {
  if (page->want_endpoints) {
    return WalkList(body, "NodeList", &page->continue_token, &page->resource_version,
                    [&](od::object item) -> std::string {
                      std::string name;
                      NodeEndpoint endpoint;
                      if (auto e = ReadNode(item, &name, &endpoint); !e.empty()) return e;
                      page->names.push_back(std::move(name));
                      page->endpoints.push_back(std::move(endpoint));
                      return "";
                    });
  }
  return WalkList(body, "NodeList", &page->continue_token, &page->resource_version,
                  [&](od::object item) -> std::string {
                    od::object meta;
                    std::string_view name[1];
                    if (item["metadata"].get_object().get(meta)) return "an item has no metadata";
                    if (auto e = ReadStrings(meta, {"name"}, name); !e.empty()) return e;
                    if (name[0].empty()) return "an item has no metadata.name";
                    page->names.emplace_back(name[0]);
                    return "";
                  });
}

Status DecodePodPlacements(std::string_view body, PodListPage* page) {
  return WalkList(
      body, "PodList", &page->continue_token, nullptr, [&](od::object item) -> std::string {
        std::string_view meta_keys[2] = {}, node[1] = {};
        for (auto f : item) {
          std::string_view k;
          od::object sub;
          if (f.error() || f.unescaped_key().get(k)) return "malformed item";
          if (k != "metadata" && k != "spec") continue;
          if (f.value().get_object().get(sub)) return std::string(k) + " is not an object";
          std::string e = k == "metadata" ? ReadStrings(sub, {"namespace", "name"}, meta_keys)
                                          : ReadStrings(sub, {"nodeName"}, node);
          if (!e.empty()) return e;
        }
        if (meta_keys[1].empty()) return "an item has no metadata.name";
        PodPlacement pod;
        pod.namespace_name.assign(meta_keys[0]).append("/").append(meta_keys[1]);
        pod.node.assign(node[0]);
        page->pods.push_back(std::move(pod));
        return "";
      });
}

}  // namespace kmb
