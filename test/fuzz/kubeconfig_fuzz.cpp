// Fuzzes the kubeconfig loader (LoadClusterConfig), which takes a path: the input is written to
// a file in a private temporary folder, so that relative paths in it (certificate-authority,
// token-file, ...) resolve into that empty folder.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fuzz_util.h"
#include "kmb/kube/cluster_config.h"

namespace {

const std::string& KubeconfigPath() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/kmb-fuzz-kubeconfig-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    if (!dir) std::abort();
    return std::string(dir) + "/kubeconfig";
  }();
  return path;
}

}  // namespace

KMB_FUZZ_TARGET {
  const std::string& path = KubeconfigPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  kmb::ClusterConfigOptions options;
  options.kubeconfig_path = path;
  kmb::ClusterConfig config;
  (void)kmb::LoadClusterConfig(options, &config);
  return 0;
}
