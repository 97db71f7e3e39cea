// Device mappings the agent did not arm: made by a raw mmap system call
// (syscall(SYS_mmap, ...), as Go's runtime makes every mapping), which no
// interposer sees, so the program reaches the device directly and nothing is
// recorded. They are found in /proc/self/maps at moments that cost nothing on
// the access path: when the process ends (exit, return from main, _exit) and
// before it execs. Each is reported once per process: a warning on stderr and
// a MARK naming the file and the range. A raw mapping unmapped again before
// then is not seen.
//
// Normal context, allocation-free (exec may be called in a vfork child, in
// which this does nothing: the mappings are the parent's, which reports them).
#pragma once

namespace mmiotrace::agent {

void report_untraced_device_mappings();

}  // namespace mmiotrace::agent
