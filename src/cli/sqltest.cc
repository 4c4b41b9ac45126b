#include <arrow/compute/initialize.h>
#include <iostream>
int main() {
  auto st = arrow::compute::Initialize();
  std::cout << st.ToString() << std::endl;
  return 0;
}
