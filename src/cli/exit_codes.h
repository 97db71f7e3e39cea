// mmiotrace's exit statuses: the one place each is defined. sysexits.h's codes
// (BSD sysexits(3)), named here so that the tools need not include it; the
// man page's EXIT STATUS section is generated from this file
// (packaging/man.sh), so each kExit line keeps the form
//   inline constexpr int kExitName = N;  // EX_NAME: meaning
// `record` and `replay` otherwise exit with the traced program's own status.
#pragma once

namespace mmiotrace::cli {

inline constexpr int kExitDiverged = 3;      // replay: the program did not do what the recording says (docs/replay.md)
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: input data is wrong (corrupt trace)
inline constexpr int kExitNoInput = 66;      // EX_NOINPUT: input file missing or unreadable
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: no recorder to mark; a program the agent cannot enter
inline constexpr int kExitSoftware = 70;     // EX_SOFTWARE: internal error (the agent or a channel cannot be set up)
inline constexpr int kExitCantCreat = 73;    // EX_CANTCREAT: output file cannot be created
inline constexpr int kExitIoErr = 74;        // EX_IOERR: read or write failed
inline constexpr int kExitNoPerm = 77;       // EX_NOPERM: set-ID program to record, another user's recorder
inline constexpr int kExitNotFound = 127;    // the program to run does not exist or cannot be run (as a shell says)

// `diff` alone exits as diff(1) does, whatever went wrong (a bad command line
// too); its man page says so (packaging/man/mmiotrace-diff.h2m).
inline constexpr int kDiffSame = 0;     // the traces match
inline constexpr int kDiffDiffer = 1;   // they differ
inline constexpr int kDiffTrouble = 2;  // any trouble

}  // namespace mmiotrace::cli
