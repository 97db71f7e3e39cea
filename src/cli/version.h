// What `mmiotrace --version` prints: "mmiotrace 0.1.0 (git 3365e0d1a2b3)".
// Defined in the build folder's version.cc, which packaging/version.cmake
// writes at every build from the project's version and the git revision of
// the source tree (touching it only when that text changes, so that nothing
// else is rebuilt). Only the mmiotrace executable links it.
#pragma once

namespace mmiotrace::cli {

extern const char kVersionText[];

}  // namespace mmiotrace::cli
