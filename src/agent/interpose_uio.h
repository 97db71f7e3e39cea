// /dev/uioN of a device model (docs/models.md, "Interrupts"): read() of its
// stand-in returns the model's interrupt count as UIO does (4 bytes, blocking
// until an interrupt came since this descriptor last saw one; EAGAIN with
// O_NONBLOCK), and write() of 4 bytes (UIO's interrupt enable/disable) is
// accepted. Normal context (the program's own calls).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace mmiotrace::agent {

// A stand-in of session path `path` was opened as `fd`.
void uio_stand_in_opened(int fd, int path);
// read() or write() on `fd`: true (with the call's result in *result, errno
// set as the call would) if `fd` is a model's UIO stand-in.
bool uio_model_call(int fd, bool write, void* buf, size_t n, ssize_t* result);

}  // namespace mmiotrace::agent
