// Version and revision of this build. The revision comes from a header written at every build
// (cmake/Revision.cmake): only this file recompiles when it changes.
#include "kmb/util/log.h"
#include "kmb_revision.h"

namespace kmb {
std::string_view Version() { return KMB_VERSION; }
std::string_view Revision() { return KMB_REVISION; }
}  // namespace kmb
