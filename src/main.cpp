#include "kmb/app/poller.h"

int main(int argc, char** argv) { return kmb::RunMain(argc, argv); }
