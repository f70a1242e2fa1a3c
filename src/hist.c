#include "hist.h"
