#include "kmb/sources/node_list.h"

#include <simdjson.h>

#include <cstdint>

#include "kmb/sources/pods.h"
#include "node_status.h"

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

}  // namespace

std::string ReadNodeStatus(simdjson::dom::element status, NodeEndpoint* out) {
  namespace dom = simdjson::dom;
  dom::object obj;
  if (status.get_object().get(obj)) return "status is not an object";
  for (auto [k, value] : obj) {
    if (k == "addresses") {
      dom::array list;
      if (value.get_array().get(list)) return "status.addresses is not an array";
      for (dom::element a : list) {
        dom::object address;
        if (a.get_object().get(address)) return "an address is not an object";
        std::string_view fields[2] = {};
        const std::string_view keys[2] = {"type", "address"};
        for (size_t i = 0; i < 2; ++i) {
          dom::element v;
          if (!address[keys[i]].get(v) && v.get_string().get(fields[i])) {
            return std::string(keys[i]) + " is not a string";
          }
        }
        if (!fields[1].empty()) out->addresses.emplace_back(fields[0], fields[1]);
      }
    } else if (k == "daemonEndpoints") {
      if (!value.is_object()) return "status.daemonEndpoints is not an object";
      int64_t port = 0;
      if (!value["kubeletEndpoint"]["Port"].get_int64().get(port) && port > 0 && port < 65536) {
        out->kubelet_port = static_cast<int>(port);
      }
    }
  }
  return "";
}

Status DecodeNode(std::string_view body, std::string* name, NodeEndpoint* endpoint) {
  namespace dom = simdjson::dom;
  thread_local dom::parser parser;
  auto fail = [](const std::string& what) {
    return Status::Error(reason::kDecode, "Node: " + what);
  };
  dom::object obj;
  if (parser.parse(body.data(), body.size()).get_object().get(obj)) {
    return fail("not a JSON object");
  }
  name->clear();
  *endpoint = NodeEndpoint{};
  for (auto [k, value] : obj) {
    if (k == "metadata") {
      dom::element n;
      std::string_view text;
      if (!value.is_object()) return fail("metadata is not an object");
      if (!value["name"].get(n)) {
        if (n.get_string().get(text)) return fail("name is not a string");
        name->assign(text);
      }
    } else if (k == "status") {
      if (std::string e = ReadNodeStatus(value, endpoint); !e.empty()) return fail(e);
    }
  }
  if (name->empty()) return fail("an item has no metadata.name");
  return Status::Ok();
}

Status DecodeNodeList(std::string_view body, NodeListPage* page) {
  if (page->want_endpoints) {
    // The watch cache's Node decoder, which reads each status once; a bad item fails the page.
    ObjectListPage<NodeObject> nodes;
    Status st = DecodeNodeObjectList(body, &nodes);
    if (!st.ok()) return st;
    if (!nodes.errors.empty()) return Status::Error(reason::kDecode, nodes.errors.front());
    if (!nodes.continue_token.empty()) page->continue_token = std::move(nodes.continue_token);
    if (!nodes.resource_version.empty()) {
      page->resource_version = std::move(nodes.resource_version);
    }
    for (NodeObject& node : nodes.items) {
      page->names.push_back(std::move(node.name));
      page->endpoints.push_back(std::move(node.endpoint));
    }
    return Status::Ok();
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
