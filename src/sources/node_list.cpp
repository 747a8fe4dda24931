#include "kmb/sources/node_list.h"

#include <simdjson.h>

namespace kmb {

Status DecodeNodeList(std::string_view body, NodeListPage* page) {
  // On-demand parsing needs SIMDJSON_PADDING readable bytes past the end: copy once. The
  // parser and buffer are reused across pages and polls.
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  auto fail = [&](std::string_view what) {
    return Status::Error(reason::kDecode, "NodeList: " + std::string(what));
  };
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return fail("not JSON");
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return fail("not a JSON object");
  for (auto field : root) {
    std::string_view key;
    if (field.error() || field.unescaped_key().get(key)) return fail("malformed or truncated");
    if (key == "metadata") {
      simdjson::ondemand::object meta;
      if (field.value().get_object().get(meta)) return fail("metadata is not an object");
      for (auto mf : meta) {
        std::string_view mk, v;
        if (mf.error() || mf.unescaped_key().get(mk)) return fail("malformed metadata");
        if (mk == "continue" && !mf.value().get_string().get(v)) page->continue_token = v;
        else if (mk == "resourceVersion" && !mf.value().get_string().get(v))
          page->resource_version = v;
      }
    } else if (key == "items") {
      simdjson::ondemand::array items;
      if (field.value().get_array().get(items)) return fail("items is not an array");
      for (auto item : items) {
        simdjson::ondemand::object obj;
        if (item.error() || item.get_object().get(obj)) return fail("an item is not an object");
        std::string_view name;
        simdjson::ondemand::object meta;
        if (obj["metadata"].get_object().get(meta) || meta["name"].get_string().get(name)) {
          return fail("an item has no metadata.name");
        }
        page->names.emplace_back(name);
      }
    }
  }
  const char* after = nullptr;
  if (doc.current_location().get(after) != simdjson::OUT_OF_BOUNDS) {
    return fail("trailing content after the NodeList");
  }
  return Status::Ok();
}

Status DecodePodPlacements(std::string_view body, PodListPage* page) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  auto fail = [&](std::string_view what) {
    return Status::Error(reason::kDecode, "PodList: " + std::string(what));
  };
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return fail("not JSON");
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return fail("not a JSON object");
  for (auto field : root) {
    std::string_view key;
    if (field.error() || field.unescaped_key().get(key)) return fail("malformed or truncated");
    if (key == "metadata") {
      simdjson::ondemand::object meta;
      if (field.value().get_object().get(meta)) return fail("metadata is not an object");
      for (auto mf : meta) {
        std::string_view mk, v;
        if (mf.error() || mf.unescaped_key().get(mk)) return fail("malformed metadata");
        if (mk == "continue" && !mf.value().get_string().get(v)) page->continue_token = v;
      }
    } else if (key == "items") {
      simdjson::ondemand::array items;
      if (field.value().get_array().get(items)) return fail("items is not an array");
      for (auto item : items) {
        simdjson::ondemand::object obj;
        if (item.error() || item.get_object().get(obj)) return fail("an item is not an object");
        PodPlacement pod;
        std::string_view ns, name, node;
        for (auto f : obj) {
          std::string_view k;
          if (f.error() || f.unescaped_key().get(k)) return fail("malformed item");
          simdjson::ondemand::object sub;
          if (k == "metadata") {
            if (f.value().get_object().get(sub)) return fail("item metadata is not an object");
            for (auto mf : sub) {
              std::string_view mk;
              if (mf.error() || mf.unescaped_key().get(mk)) return fail("malformed metadata");
              if (mk == "name" && mf.value().get_string().get(name)) return fail("bad name");
              if (mk == "namespace" && mf.value().get_string().get(ns)) return fail("bad namespace");
              if (!name.empty() && !ns.empty()) break;
            }
            pod.namespace_name.assign(ns).append("/").append(name);
          } else if (k == "spec") {
            if (f.value().get_object().get(sub)) return fail("item spec is not an object");
            for (auto sf : sub) {
              std::string_view sk;
              if (sf.error() || sf.unescaped_key().get(sk)) return fail("malformed spec");
              if (sk == "nodeName") {
                if (sf.value().get_string().get(node)) return fail("bad spec.nodeName");
                break;
              }
            }
            pod.node.assign(node);
          }
        }
        if (name.empty()) return fail("an item has no metadata.name");
        page->pods.push_back(std::move(pod));
      }
    }
  }
  const char* after = nullptr;
  if (doc.current_location().get(after) != simdjson::OUT_OF_BOUNDS) {
    return fail("trailing content after the PodList");
  }
  return Status::Ok();
}

}  // namespace kmb
