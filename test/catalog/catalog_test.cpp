#include "kmb/catalog/catalog.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "kmb/exposition/catalog_doc.h"

namespace kmb {
namespace {

TEST(Catalog, RowsAreWellFormed) {
  std::regex name_re("^[a-zA-Z_:][a-zA-Z0-9_:]*$");
  std::regex const_re("^([a-z_]+=[a-zA-Z0-9_.]+)(,[a-z_]+=[a-zA-Z0-9_.]+)*$");
  std::map<std::string_view, const catalog::MetricDef*> names;
  std::set<std::string> series_kinds;
  std::set<std::string> paths;
  for (const auto& d : catalog::kMetrics) {
    EXPECT_TRUE(std::regex_match(std::string(d.name), name_re)) << d.name;
    if (!d.const_labels.empty()) {
      EXPECT_TRUE(std::regex_match(std::string(d.const_labels), const_re)) << d.name;
    }
    // Rows may share a name only as one family: same type, unit, help, entity, and told apart
    // by their const labels.
    auto [it, fresh] = names.emplace(d.name, &d);
    if (!fresh) {
      const catalog::MetricDef& f = *it->second;
      EXPECT_EQ(f.type, d.type) << d.name;
      EXPECT_EQ(f.unit, d.unit) << d.name;
      EXPECT_EQ(f.help, d.help) << d.name;
      EXPECT_EQ(f.entity, d.entity) << d.name;
    }
    EXPECT_TRUE(series_kinds.insert(std::string(d.name) + "|" + std::string(d.const_labels)).second)
        << "two rows would write the same series: " << d.name << " " << d.const_labels;
    EXPECT_EQ(d.type == catalog::MetricType::kCounter, d.name.ends_with("_total")) << d.name;
    if (!d.unit.empty()) {
      std::string suffix(1, '_');  // not "_" + std::string(...): GCC 12's -Wrestrict misfires
      suffix += d.unit;
      EXPECT_TRUE(catalog::FamilyName(d).ends_with(suffix)) << d.name;
    }
    EXPECT_FALSE(d.help.empty()) << d.name;
    EXPECT_EQ(d.help.find_first_of("\\\n"), std::string_view::npos) << d.name;
    EXPECT_EQ(d.path.empty(), d.source == catalog::Source::kSelf) << d.name;
    if (!d.path.empty()) {
      std::string key = std::to_string(static_cast<int>(d.entity)) + std::string(d.path);
      EXPECT_TRUE(paths.insert(key).second) << "two rows for one field: " << d.name;
      EXPECT_EQ(&catalog::kMetrics[catalog::Find(d.entity, d.path)], &d);
    }
  }
  EXPECT_EQ(catalog::Find(catalog::Entity::kNode, "no.such.field"), -1);
}

TEST(Catalog, DocsMetricsMdIsGeneratedFromTheCatalog) {
  std::ifstream in(std::string(KMB_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), CatalogMarkdown())
      << "docs/metrics.md is out of date: run `build/kube-metrics-bridge catalog > "
         "docs/metrics.md`";
}

}  // namespace
}  // namespace kmb
