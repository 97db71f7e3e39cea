// Consumer: merges the threads' rings of the channel (trace/channel.h) by seq
// and hands each record, checked by the trace reader's own rules
// (trace::RecordView::checked), to a RecordSink: the recorder's trace file.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "trace/channel.h"
#include "trace/reader.h"

namespace mmiotrace::cli {

// Where the Consumer's records go, in seq order.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // `record` is valid during the call only.
  virtual void take(const trace::RecordView& record) = 0;
};

class Consumer {
 public:
  Consumer(trace::ChannelHeader* channel, RecordSink* sink) : ch_(channel), sink_(sink) {}
  // Moves every record that is there to the sink, in seq order. A seq that
  // never arrives (its thread was killed between taking it and publishing
  // it) becomes a LOST record. Each PCI device's first PCIDEV record is
  // passed on, later ones (other processes mapping it) are dropped. Returns
  // whether anything was consumed.
  bool drain();
  // Sleeps until a producer rings the doorbell or `timeout_ms` passes.
  void wait(int timeout_ms);
  // The final drain, once the program and every process it left behind have
  // ended: no new producer may start (`mmiotrace mark` backs off, see
  // trace::ChannelProducer::claim), and the ones that had started (an owned
  // ring whose owner is alive) are waited for, up to `timeout_ms`, so that a
  // mark that was taken either lands or reports failure.
  void finish(int timeout_ms = 5000);
  // A ring whose content is not a valid record (the program overwrote the
  // shared memory): the ring is abandoned and this says why.
  const std::string& channel_error() const { return channel_error_; }

 private:
  bool peek(uint32_t ring, uint64_t* tail, uint64_t* head_seen, trace::RecordView* out);
  void emit(const trace::RecordView& rec);
  void emit_lost(uint64_t count, uint64_t time_ns);
  void free_retired_rings();
  bool producers_left() const;

  trace::ChannelHeader* ch_;
  RecordSink* sink_;
  uint64_t expected_seq_ = 0;
  std::set<uint32_t> pci_devices_;
  std::set<uint32_t> broken_rings_;
  std::string channel_error_;
};

}  // namespace mmiotrace::cli
