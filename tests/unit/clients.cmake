# unit tests of clients/ (zt_unit_test(name source libs...))
