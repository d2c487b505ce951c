// libtorch's autocast switches, which the tch crate does not expose for the
// CPU or for a chosen dtype. Only the functions' declarations are repeated
// here (as in ATen/autocast_mode.h), so this builds without libtorch's
// headers; a libtorch without them fails at link time, not at run time.
#include <cstdint>

namespace c10 {
enum class DeviceType : int8_t;
enum class ScalarType : int8_t;
}  // namespace c10

namespace at {
namespace autocast {
bool is_autocast_enabled(c10::DeviceType device_type);
void set_autocast_enabled(c10::DeviceType device_type, bool enabled);
c10::ScalarType get_autocast_dtype(c10::DeviceType device_type);
void set_autocast_dtype(c10::DeviceType device_type, c10::ScalarType dtype);
void clear_cache();
int increment_nesting();
int decrement_nesting();
}  // namespace autocast

// Only the two members used; the class is libtorch's (ATen/Context.h).
class Context {
 public:
  bool userEnabledMkldnn() const;
  void setUserEnabledMkldnn(bool e);
};
Context& globalContext();
}  // namespace at

extern "C" {

bool advp_autocast_enabled(int8_t device) {
  return at::autocast::is_autocast_enabled(static_cast<c10::DeviceType>(device));
}

int8_t advp_autocast_dtype(int8_t device) {
  return static_cast<int8_t>(at::autocast::get_autocast_dtype(static_cast<c10::DeviceType>(device)));
}

bool advp_mkldnn_enabled() { return at::globalContext().userEnabledMkldnn(); }

void advp_set_mkldnn(bool enabled) { at::globalContext().setUserEnabledMkldnn(enabled); }

// Enters a region: autocast on `device` to `dtype`, one level deeper.
void advp_autocast_enter(int8_t device, int8_t dtype) {
  auto d = static_cast<c10::DeviceType>(device);
  at::autocast::set_autocast_dtype(d, static_cast<c10::ScalarType>(dtype));
  at::autocast::set_autocast_enabled(d, true);
  at::autocast::increment_nesting();
}

// Leaves a region, restoring what was set before; the cast cache is cleared
// when the outermost region closes (as torch.autocast's __exit__ does), so
// updated weights are cast again.
void advp_autocast_exit(int8_t device, bool enabled, int8_t dtype) {
  auto d = static_cast<c10::DeviceType>(device);
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
  at::autocast::set_autocast_enabled(d, enabled);
  at::autocast::set_autocast_dtype(d, static_cast<c10::ScalarType>(dtype));
}
}
