#ifndef MSGD_HIST_H
#define MSGD_HIST_H
#endif
