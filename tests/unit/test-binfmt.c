// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include "check.h"

int main(void)
{
	SKIP("placeholder until implemented");
	return check_done();
}
