/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _EPTMMU_DEV_H
#define _EPTMMU_DEV_H

int eptmmu_dev_init(void);
void eptmmu_dev_exit(void);

#endif /* _EPTMMU_DEV_H */
