#pragma once
// Helpers shared by the sources tests.

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/sources/entity.h"

namespace kmb::testing {

inline std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(KMB_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The entity of `kind` whose labels start with `labels` (in catalog::LabelNames order).
inline const EntityStats* FindEntity(const std::vector<EntityStats>& entities, catalog::Entity kind,
                                     std::initializer_list<std::string_view> labels) {
  for (const EntityStats& e : entities) {
    if (e.entity != kind || e.labels.size() < labels.size()) continue;
    size_t i = 0;
    bool match = true;
    for (std::string_view l : labels) match = match && e.labels[i++] == l;
    if (match) return &e;
  }
  return nullptr;
}

// The sample of the catalog metric `name` in `e`, if any.
inline std::optional<Sample> SampleOf(const EntityStats& e, std::string_view name) {
  const int id = catalog::FindByName(name);
  EXPECT_GE(id, 0) << name;
  for (const Sample& s : e.samples) {
    if (s.metric == id) return s;
  }
  return std::nullopt;
}

// The sample of the catalog row (e.entity, path) in `e`, if any. Unlike SampleOf this tells
// apart rows that share a metric name (rxBytes / txBytes, fs / imageFs / containerFs).
inline std::optional<Sample> SampleAt(const EntityStats& e, std::string_view path) {
  const int id = catalog::Find(e.entity, path);
  EXPECT_GE(id, 0) << path;
  for (const Sample& s : e.samples) {
    if (s.metric == id) return s;
  }
  return std::nullopt;
}

inline size_t CountKind(const std::vector<EntityStats>& entities, catalog::Entity kind) {
  size_t n = 0;
  for (const EntityStats& e : entities) n += e.entity == kind ? 1 : 0;
  return n;
}

// Unsigned integer value of a sample (fails the test for other kinds).
inline uint64_t U(const std::optional<Sample>& s) {
  EXPECT_TRUE(s.has_value());
  if (!s.has_value()) return 0;
  EXPECT_EQ(s->kind, ValueKind::kUint);
  return s->kind == ValueKind::kUint ? s->u() : 0;
}

inline double D(const std::optional<Sample>& s) {
  EXPECT_TRUE(s.has_value());
  if (!s.has_value()) return 0;
  EXPECT_EQ(s->kind, ValueKind::kDouble);
  return s->kind == ValueKind::kDouble ? s->d() : 0;
}

// Two decodes of the same payload gave the same entities: kinds, labels, and every sample's
// metric, kind, bits and time, in the same order.
inline void ExpectSameEntities(const std::vector<EntityStats>& a,
                               const std::vector<EntityStats>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const EntityStats& x = a[i];
    const EntityStats& y = b[i];
    EXPECT_EQ(x.entity, y.entity) << i;
    EXPECT_EQ(x.nested, y.nested) << i;
    EXPECT_EQ(x.labels, y.labels) << i;
    ASSERT_EQ(x.samples.size(), y.samples.size()) << i;
    for (size_t j = 0; j < x.samples.size(); ++j) {
      EXPECT_EQ(x.samples[j].metric, y.samples[j].metric);
      EXPECT_EQ(x.samples[j].kind, y.samples[j].kind);
      EXPECT_EQ(x.samples[j].u(), y.samples[j].u());  // the same bits, whatever the kind
      EXPECT_EQ(x.time_ms(x.samples[j]), y.time_ms(y.samples[j]));
    }
  }
}

}  // namespace kmb::testing
