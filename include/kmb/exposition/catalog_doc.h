#pragma once
// docs/metrics.md is generated from the catalog by this function
// (`kube-metrics-bridge catalog > docs/metrics.md`); a test fails when the two differ.

#include <string>

namespace kmb {

std::string CatalogMarkdown();

}  // namespace kmb
