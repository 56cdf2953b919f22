"""Generate ``routing/data/demo_network.json`` (the bundled demo network).

Run ``python -m tools.gen_demo_network`` to rewrite it; the output is deterministic.

Sources and assumptions (see docs/ROUTING.md, "Data provenance"):

* Warehouses: :data:`allocator.catalog.DEMO_WAREHOUSES` (same ids and coordinates).
* Destinations: head/sub post office pincodes of real Indian cities and towns, with
  approximate (2-decimal) city-centre coordinates.
* Rates: modelled on public Indian e-commerce courier rate cards (zones A–E:
  within city, within region, metro-to-metro, rest of India, special/NE-J&K),
  roughly ₹38–₹95 for the first 500 g.
* RTO (return-to-origin) rates: an illustrative model of commonly reported Indian
  e-commerce figures — about 5–8 % in metros rising to 20–30 % in remote areas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from allocator.catalog import DEMO_WAREHOUSES

OUT = Path(__file__).resolve().parents[1] / "routing" / "data" / "demo_network.json"

# (pincode, city, state, lat, lon)
CITIES: tuple[tuple[str, str, str, float, float], ...] = (
    # Delhi NCR
    ("110001", "New Delhi (Connaught Place)", "Delhi", 28.63, 77.22),
    ("110006", "Delhi (Chandni Chowk)", "Delhi", 28.65, 77.23),
    ("110016", "New Delhi (Hauz Khas)", "Delhi", 28.55, 77.20),
    ("110017", "New Delhi (Malviya Nagar)", "Delhi", 28.53, 77.21),
    ("110019", "New Delhi (Kalkaji)", "Delhi", 28.54, 77.26),
    ("110024", "New Delhi (Lajpat Nagar)", "Delhi", 28.57, 77.24),
    ("110058", "New Delhi (Janakpuri)", "Delhi", 28.62, 77.08),
    ("110075", "New Delhi (Dwarka)", "Delhi", 28.59, 77.05),
    ("110085", "Delhi (Rohini)", "Delhi", 28.72, 77.11),
    ("110092", "Delhi (Preet Vihar)", "Delhi", 28.64, 77.30),
    ("122001", "Gurugram", "Haryana", 28.46, 77.03),
    ("201301", "Noida", "Uttar Pradesh", 28.57, 77.32),
    ("201001", "Ghaziabad", "Uttar Pradesh", 28.67, 77.45),
    ("121001", "Faridabad", "Haryana", 28.41, 77.32),
    # Haryana, Chandigarh, Punjab
    ("132103", "Panipat", "Haryana", 29.39, 76.97),
    ("132001", "Karnal", "Haryana", 29.69, 76.99),
    ("133001", "Ambala", "Haryana", 30.38, 76.78),
    ("124001", "Rohtak", "Haryana", 28.90, 76.61),
    ("125001", "Hisar", "Haryana", 29.15, 75.72),
    ("131001", "Sonipat", "Haryana", 28.99, 77.02),
    ("134109", "Panchkula", "Haryana", 30.69, 76.86),
    ("135001", "Yamunanagar", "Haryana", 30.13, 77.29),
    ("123401", "Rewari", "Haryana", 28.20, 76.62),
    ("127021", "Bhiwani", "Haryana", 28.79, 76.13),
    ("125055", "Sirsa", "Haryana", 29.53, 75.03),
    ("160017", "Chandigarh", "Chandigarh", 30.74, 76.79),
    ("141001", "Ludhiana", "Punjab", 30.90, 75.85),
    ("143001", "Amritsar", "Punjab", 31.63, 74.87),
    ("144001", "Jalandhar", "Punjab", 31.33, 75.58),
    ("147001", "Patiala", "Punjab", 30.34, 76.39),
    ("151001", "Bathinda", "Punjab", 30.21, 74.95),
    ("145001", "Pathankot", "Punjab", 32.27, 75.65),
    ("146001", "Hoshiarpur", "Punjab", 31.53, 75.91),
    ("142001", "Moga", "Punjab", 30.82, 75.17),
    ("152001", "Firozpur", "Punjab", 30.92, 74.61),
    # Himachal Pradesh, Jammu & Kashmir, Ladakh
    ("171001", "Shimla", "Himachal Pradesh", 31.10, 77.17),
    ("176215", "Dharamshala", "Himachal Pradesh", 32.22, 76.32),
    ("175001", "Mandi", "Himachal Pradesh", 31.71, 76.93),
    ("173212", "Solan", "Himachal Pradesh", 30.90, 77.10),
    ("175101", "Kullu", "Himachal Pradesh", 31.96, 77.11),
    ("175131", "Manali", "Himachal Pradesh", 32.24, 77.19),
    ("180001", "Jammu", "Jammu and Kashmir", 32.73, 74.86),
    ("190001", "Srinagar", "Jammu and Kashmir", 34.08, 74.80),
    ("192101", "Anantnag", "Jammu and Kashmir", 33.73, 75.15),
    ("182101", "Udhampur", "Jammu and Kashmir", 32.93, 75.14),
    ("184101", "Kathua", "Jammu and Kashmir", 32.37, 75.52),
    ("194101", "Leh", "Ladakh", 34.15, 77.58),
    # Uttarakhand
    ("248001", "Dehradun", "Uttarakhand", 30.32, 78.03),
    ("249401", "Haridwar", "Uttarakhand", 29.95, 78.16),
    ("249201", "Rishikesh", "Uttarakhand", 30.09, 78.27),
    ("263139", "Haldwani", "Uttarakhand", 29.22, 79.51),
    ("263001", "Nainital", "Uttarakhand", 29.39, 79.45),
    ("247667", "Roorkee", "Uttarakhand", 29.87, 77.89),
    ("263153", "Rudrapur", "Uttarakhand", 28.98, 79.40),
    # Uttar Pradesh
    ("226001", "Lucknow (Hazratganj)", "Uttar Pradesh", 26.85, 80.95),
    ("226010", "Lucknow (Gomti Nagar)", "Uttar Pradesh", 26.85, 81.00),
    ("226016", "Lucknow (Indira Nagar)", "Uttar Pradesh", 26.88, 80.99),
    ("208001", "Kanpur", "Uttar Pradesh", 26.45, 80.33),
    ("282001", "Agra", "Uttar Pradesh", 27.18, 78.01),
    ("221001", "Varanasi", "Uttar Pradesh", 25.32, 82.97),
    ("211001", "Prayagraj", "Uttar Pradesh", 25.44, 81.85),
    ("250001", "Meerut", "Uttar Pradesh", 28.98, 77.71),
    ("243001", "Bareilly", "Uttar Pradesh", 28.37, 79.43),
    ("202001", "Aligarh", "Uttar Pradesh", 27.88, 78.08),
    ("244001", "Moradabad", "Uttar Pradesh", 28.84, 78.77),
    ("273001", "Gorakhpur", "Uttar Pradesh", 26.76, 83.37),
    ("284001", "Jhansi", "Uttar Pradesh", 25.45, 78.57),
    ("281001", "Mathura", "Uttar Pradesh", 27.49, 77.67),
    ("247001", "Saharanpur", "Uttar Pradesh", 29.97, 77.55),
    ("251001", "Muzaffarnagar", "Uttar Pradesh", 29.47, 77.70),
    ("283203", "Firozabad", "Uttar Pradesh", 27.15, 78.40),
    ("224001", "Ayodhya (Faizabad)", "Uttar Pradesh", 26.78, 82.13),
    ("243901", "Rampur", "Uttar Pradesh", 28.80, 79.03),
    ("242001", "Shahjahanpur", "Uttar Pradesh", 27.88, 79.91),
    ("206001", "Etawah", "Uttar Pradesh", 26.78, 79.02),
    ("231001", "Mirzapur", "Uttar Pradesh", 25.15, 82.57),
    ("228001", "Sultanpur", "Uttar Pradesh", 26.26, 82.07),
    ("276001", "Azamgarh", "Uttar Pradesh", 26.07, 83.18),
    ("277001", "Ballia", "Uttar Pradesh", 25.76, 84.15),
    ("272001", "Basti", "Uttar Pradesh", 26.80, 82.73),
    ("271001", "Gonda", "Uttar Pradesh", 27.13, 81.96),
    ("271801", "Bahraich", "Uttar Pradesh", 27.57, 81.60),
    ("261001", "Sitapur", "Uttar Pradesh", 27.57, 80.68),
    ("241001", "Hardoi", "Uttar Pradesh", 27.40, 80.13),
    ("209801", "Unnao", "Uttar Pradesh", 26.55, 80.49),
    ("229001", "Raebareli", "Uttar Pradesh", 26.23, 81.23),
    ("210001", "Banda", "Uttar Pradesh", 25.48, 80.33),
    ("222001", "Jaunpur", "Uttar Pradesh", 25.75, 82.69),
    ("274001", "Deoria", "Uttar Pradesh", 26.50, 83.78),
    # Rajasthan
    ("302001", "Jaipur (MI Road)", "Rajasthan", 26.92, 75.82),
    ("302017", "Jaipur (Malviya Nagar)", "Rajasthan", 26.85, 75.81),
    ("342001", "Jodhpur", "Rajasthan", 26.29, 73.02),
    ("313001", "Udaipur", "Rajasthan", 24.58, 73.71),
    ("324001", "Kota", "Rajasthan", 25.18, 75.83),
    ("305001", "Ajmer", "Rajasthan", 26.45, 74.64),
    ("334001", "Bikaner", "Rajasthan", 28.02, 73.31),
    ("301001", "Alwar", "Rajasthan", 27.55, 76.60),
    ("311001", "Bhilwara", "Rajasthan", 25.35, 74.63),
    ("332001", "Sikar", "Rajasthan", 27.61, 75.14),
    ("335001", "Sri Ganganagar", "Rajasthan", 29.90, 73.88),
    ("306401", "Pali", "Rajasthan", 25.77, 73.32),
    ("344001", "Barmer", "Rajasthan", 25.75, 71.39),
    ("345001", "Jaisalmer", "Rajasthan", 26.91, 70.91),
    ("312001", "Chittorgarh", "Rajasthan", 24.88, 74.62),
    ("321001", "Bharatpur", "Rajasthan", 27.22, 77.49),
    ("304001", "Tonk", "Rajasthan", 26.17, 75.79),
    ("333001", "Jhunjhunu", "Rajasthan", 28.13, 75.40),
    ("341001", "Nagaur", "Rajasthan", 27.20, 73.73),
    ("327001", "Banswara", "Rajasthan", 23.55, 74.44),
    # Gujarat, Daman, Dadra
    ("380001", "Ahmedabad (Bhadra)", "Gujarat", 23.03, 72.58),
    ("380009", "Ahmedabad (Navrangpura)", "Gujarat", 23.04, 72.56),
    ("380015", "Ahmedabad (Satellite)", "Gujarat", 23.03, 72.52),
    ("380054", "Ahmedabad (Bodakdev)", "Gujarat", 23.04, 72.51),
    ("395001", "Surat", "Gujarat", 21.19, 72.83),
    ("390001", "Vadodara", "Gujarat", 22.31, 73.19),
    ("360001", "Rajkot", "Gujarat", 22.30, 70.80),
    ("364001", "Bhavnagar", "Gujarat", 21.76, 72.15),
    ("361001", "Jamnagar", "Gujarat", 22.47, 70.06),
    ("382010", "Gandhinagar", "Gujarat", 23.22, 72.65),
    ("362001", "Junagadh", "Gujarat", 21.52, 70.46),
    ("388001", "Anand", "Gujarat", 22.56, 72.95),
    ("387001", "Nadiad", "Gujarat", 22.69, 72.86),
    ("392001", "Bharuch", "Gujarat", 21.71, 72.98),
    ("396445", "Navsari", "Gujarat", 20.95, 72.92),
    ("396191", "Vapi", "Gujarat", 20.37, 72.90),
    ("396001", "Valsad", "Gujarat", 20.61, 72.93),
    ("384001", "Mehsana", "Gujarat", 23.60, 72.38),
    ("370001", "Bhuj", "Gujarat", 23.25, 69.67),
    ("370201", "Gandhidham", "Gujarat", 23.08, 70.13),
    ("360575", "Porbandar", "Gujarat", 21.64, 69.60),
    ("363641", "Morbi", "Gujarat", 22.82, 70.84),
    ("385001", "Palanpur", "Gujarat", 24.17, 72.43),
    ("396210", "Daman", "Dadra and Nagar Haveli and Daman and Diu", 20.41, 72.83),
    ("396230", "Silvassa", "Dadra and Nagar Haveli and Daman and Diu", 20.27, 73.01),
    # Maharashtra
    ("400001", "Mumbai (Fort)", "Maharashtra", 18.94, 72.84),
    ("400050", "Mumbai (Bandra West)", "Maharashtra", 19.06, 72.83),
    ("400053", "Mumbai (Andheri West)", "Maharashtra", 19.13, 72.83),
    ("400070", "Mumbai (Kurla)", "Maharashtra", 19.07, 72.88),
    ("400076", "Mumbai (Powai)", "Maharashtra", 19.12, 72.91),
    ("400101", "Mumbai (Kandivali East)", "Maharashtra", 19.20, 72.87),
    ("400601", "Thane", "Maharashtra", 19.20, 72.97),
    ("400703", "Navi Mumbai (Vashi)", "Maharashtra", 19.08, 73.00),
    ("400614", "Navi Mumbai (CBD Belapur)", "Maharashtra", 19.02, 73.04),
    ("401101", "Bhayandar", "Maharashtra", 19.30, 72.85),
    ("421301", "Kalyan", "Maharashtra", 19.24, 73.13),
    ("411001", "Pune (Camp)", "Maharashtra", 18.52, 73.87),
    ("411038", "Pune (Kothrud)", "Maharashtra", 18.51, 73.81),
    ("411057", "Pune (Hinjewadi)", "Maharashtra", 18.59, 73.74),
    ("411014", "Pune (Viman Nagar)", "Maharashtra", 18.56, 73.91),
    ("440001", "Nagpur", "Maharashtra", 21.15, 79.09),
    ("422001", "Nashik", "Maharashtra", 20.00, 73.79),
    ("431001", "Chhatrapati Sambhajinagar", "Maharashtra", 19.88, 75.34),
    ("413001", "Solapur", "Maharashtra", 17.66, 75.91),
    ("416001", "Kolhapur", "Maharashtra", 16.70, 74.24),
    ("444601", "Amravati", "Maharashtra", 20.93, 77.75),
    ("444001", "Akola", "Maharashtra", 20.70, 77.00),
    ("431601", "Nanded", "Maharashtra", 19.15, 77.31),
    ("416416", "Sangli", "Maharashtra", 16.85, 74.58),
    ("425001", "Jalgaon", "Maharashtra", 21.01, 75.56),
    ("414001", "Ahilyanagar", "Maharashtra", 19.09, 74.74),
    ("413512", "Latur", "Maharashtra", 18.40, 76.57),
    ("415001", "Satara", "Maharashtra", 17.68, 74.00),
    ("424001", "Dhule", "Maharashtra", 20.90, 74.77),
    ("442401", "Chandrapur", "Maharashtra", 19.95, 79.30),
    ("415612", "Ratnagiri", "Maharashtra", 16.99, 73.31),
    ("442001", "Wardha", "Maharashtra", 20.74, 78.60),
    ("431401", "Parbhani", "Maharashtra", 19.27, 76.77),
    ("445001", "Yavatmal", "Maharashtra", 20.39, 78.12),
    # Goa
    ("403001", "Panaji", "Goa", 15.50, 73.83),
    ("403601", "Margao", "Goa", 15.28, 73.96),
    ("403802", "Vasco da Gama", "Goa", 15.40, 73.81),
    ("403507", "Mapusa", "Goa", 15.59, 73.81),
    # Madhya Pradesh
    ("452001", "Indore", "Madhya Pradesh", 22.72, 75.86),
    ("462001", "Bhopal", "Madhya Pradesh", 23.26, 77.41),
    ("482001", "Jabalpur", "Madhya Pradesh", 23.18, 79.99),
    ("474001", "Gwalior", "Madhya Pradesh", 26.22, 78.18),
    ("456001", "Ujjain", "Madhya Pradesh", 23.18, 75.78),
    ("470001", "Sagar", "Madhya Pradesh", 23.84, 78.74),
    ("457001", "Ratlam", "Madhya Pradesh", 23.33, 75.04),
    ("486001", "Rewa", "Madhya Pradesh", 24.53, 81.30),
    ("485001", "Satna", "Madhya Pradesh", 24.58, 80.83),
    ("455001", "Dewas", "Madhya Pradesh", 22.97, 76.05),
    ("450001", "Khandwa", "Madhya Pradesh", 21.83, 76.35),
    ("480001", "Chhindwara", "Madhya Pradesh", 22.06, 78.94),
    ("483501", "Katni", "Madhya Pradesh", 23.83, 80.39),
    ("450331", "Burhanpur", "Madhya Pradesh", 21.31, 76.23),
    ("464001", "Vidisha", "Madhya Pradesh", 23.52, 77.81),
    ("476001", "Morena", "Madhya Pradesh", 26.50, 78.00),
    ("473551", "Shivpuri", "Madhya Pradesh", 25.43, 77.66),
    ("461001", "Narmadapuram", "Madhya Pradesh", 22.75, 77.72),
    ("458001", "Mandsaur", "Madhya Pradesh", 24.07, 75.07),
    # Chhattisgarh
    ("492001", "Raipur", "Chhattisgarh", 21.25, 81.63),
    ("495001", "Bilaspur", "Chhattisgarh", 22.08, 82.15),
    ("491001", "Durg", "Chhattisgarh", 21.19, 81.28),
    ("495677", "Korba", "Chhattisgarh", 22.35, 82.68),
    ("491441", "Rajnandgaon", "Chhattisgarh", 21.10, 81.03),
    ("494001", "Jagdalpur", "Chhattisgarh", 19.08, 82.02),
    ("497001", "Ambikapur", "Chhattisgarh", 23.12, 83.20),
    ("496001", "Raigarh", "Chhattisgarh", 21.90, 83.40),
    # Telangana
    ("500001", "Hyderabad (Abids)", "Telangana", 17.38, 78.47),
    ("500003", "Secunderabad", "Telangana", 17.44, 78.50),
    ("500032", "Hyderabad (Gachibowli)", "Telangana", 17.44, 78.35),
    ("500034", "Hyderabad (Banjara Hills)", "Telangana", 17.41, 78.44),
    ("500072", "Hyderabad (Kukatpally)", "Telangana", 17.49, 78.40),
    ("500060", "Hyderabad (Dilsukhnagar)", "Telangana", 17.37, 78.53),
    ("500081", "Hyderabad (Madhapur)", "Telangana", 17.45, 78.38),
    ("506002", "Warangal", "Telangana", 17.97, 79.59),
    ("505001", "Karimnagar", "Telangana", 18.44, 79.13),
    ("503001", "Nizamabad", "Telangana", 18.67, 78.09),
    ("507001", "Khammam", "Telangana", 17.25, 80.15),
    ("508001", "Nalgonda", "Telangana", 17.05, 79.27),
    ("509001", "Mahabubnagar", "Telangana", 16.74, 78.00),
    ("504001", "Adilabad", "Telangana", 19.67, 78.53),
    ("502103", "Siddipet", "Telangana", 18.10, 78.85),
    # Andhra Pradesh
    ("530001", "Visakhapatnam", "Andhra Pradesh", 17.69, 83.22),
    ("520001", "Vijayawada", "Andhra Pradesh", 16.51, 80.62),
    ("522001", "Guntur", "Andhra Pradesh", 16.31, 80.44),
    ("524001", "Nellore", "Andhra Pradesh", 14.44, 79.99),
    ("518001", "Kurnool", "Andhra Pradesh", 15.83, 78.04),
    ("517501", "Tirupati", "Andhra Pradesh", 13.63, 79.42),
    ("533001", "Kakinada", "Andhra Pradesh", 16.99, 82.25),
    ("533101", "Rajahmundry", "Andhra Pradesh", 17.00, 81.80),
    ("516001", "Kadapa", "Andhra Pradesh", 14.47, 78.82),
    ("515001", "Anantapur", "Andhra Pradesh", 14.68, 77.60),
    ("534001", "Eluru", "Andhra Pradesh", 16.71, 81.10),
    ("523001", "Ongole", "Andhra Pradesh", 15.50, 80.05),
    ("535001", "Vizianagaram", "Andhra Pradesh", 18.11, 83.40),
    ("532001", "Srikakulam", "Andhra Pradesh", 18.30, 83.90),
    ("517001", "Chittoor", "Andhra Pradesh", 13.22, 79.10),
    ("521001", "Machilipatnam", "Andhra Pradesh", 16.19, 81.14),
    ("534201", "Bhimavaram", "Andhra Pradesh", 16.54, 81.52),
    # Karnataka
    ("560001", "Bengaluru (MG Road)", "Karnataka", 12.97, 77.59),
    ("560010", "Bengaluru (Rajajinagar)", "Karnataka", 12.99, 77.55),
    ("560011", "Bengaluru (Jayanagar)", "Karnataka", 12.93, 77.58),
    ("560034", "Bengaluru (Koramangala)", "Karnataka", 12.93, 77.62),
    ("560037", "Bengaluru (Marathahalli)", "Karnataka", 12.96, 77.70),
    ("560043", "Bengaluru (Kalyan Nagar)", "Karnataka", 13.02, 77.64),
    ("560064", "Bengaluru (Yelahanka)", "Karnataka", 13.10, 77.59),
    ("560066", "Bengaluru (Whitefield)", "Karnataka", 12.97, 77.75),
    ("560076", "Bengaluru (Bannerghatta Road)", "Karnataka", 12.89, 77.60),
    ("560100", "Bengaluru (Electronic City)", "Karnataka", 12.84, 77.68),
    ("570001", "Mysuru", "Karnataka", 12.30, 76.65),
    ("575001", "Mangaluru", "Karnataka", 12.87, 74.84),
    ("580020", "Hubballi", "Karnataka", 15.36, 75.12),
    ("580001", "Dharwad", "Karnataka", 15.46, 75.01),
    ("590001", "Belagavi", "Karnataka", 15.85, 74.50),
    ("585101", "Kalaburagi", "Karnataka", 17.33, 76.83),
    ("583101", "Ballari", "Karnataka", 15.14, 76.92),
    ("577001", "Davanagere", "Karnataka", 14.46, 75.92),
    ("577201", "Shivamogga", "Karnataka", 13.93, 75.57),
    ("572101", "Tumakuru", "Karnataka", 13.34, 77.10),
    ("576101", "Udupi", "Karnataka", 13.34, 74.75),
    ("586101", "Vijayapura", "Karnataka", 16.83, 75.71),
    ("573201", "Hassan", "Karnataka", 13.00, 76.10),
    ("584101", "Raichur", "Karnataka", 16.20, 77.36),
    ("585401", "Bidar", "Karnataka", 17.91, 77.52),
    ("577501", "Chitradurga", "Karnataka", 14.23, 76.40),
    ("571401", "Mandya", "Karnataka", 12.52, 76.90),
    ("583201", "Hosapete", "Karnataka", 15.27, 76.39),
    ("577101", "Chikkamagaluru", "Karnataka", 13.32, 75.77),
    ("581301", "Karwar", "Karnataka", 14.81, 74.13),
    # Tamil Nadu, Puducherry
    ("600001", "Chennai (George Town)", "Tamil Nadu", 13.09, 80.28),
    ("600004", "Chennai (Mylapore)", "Tamil Nadu", 13.03, 80.27),
    ("600017", "Chennai (T. Nagar)", "Tamil Nadu", 13.04, 80.23),
    ("600020", "Chennai (Adyar)", "Tamil Nadu", 13.00, 80.26),
    ("600040", "Chennai (Anna Nagar)", "Tamil Nadu", 13.09, 80.21),
    ("600042", "Chennai (Velachery)", "Tamil Nadu", 12.98, 80.22),
    ("641001", "Coimbatore", "Tamil Nadu", 11.00, 76.96),
    ("625001", "Madurai", "Tamil Nadu", 9.92, 78.12),
    ("620001", "Tiruchirappalli", "Tamil Nadu", 10.80, 78.69),
    ("636001", "Salem", "Tamil Nadu", 11.66, 78.15),
    ("627001", "Tirunelveli", "Tamil Nadu", 8.71, 77.76),
    ("641601", "Tiruppur", "Tamil Nadu", 11.11, 77.34),
    ("632001", "Vellore", "Tamil Nadu", 12.92, 79.13),
    ("638001", "Erode", "Tamil Nadu", 11.34, 77.72),
    ("628001", "Thoothukudi", "Tamil Nadu", 8.76, 78.13),
    ("613001", "Thanjavur", "Tamil Nadu", 10.79, 79.14),
    ("624001", "Dindigul", "Tamil Nadu", 10.36, 77.98),
    ("629001", "Nagercoil", "Tamil Nadu", 8.18, 77.41),
    ("631501", "Kanchipuram", "Tamil Nadu", 12.83, 79.70),
    ("639001", "Karur", "Tamil Nadu", 10.96, 78.08),
    ("635109", "Hosur", "Tamil Nadu", 12.74, 77.83),
    ("607001", "Cuddalore", "Tamil Nadu", 11.75, 79.75),
    ("612001", "Kumbakonam", "Tamil Nadu", 10.96, 79.39),
    ("643001", "Ooty", "Tamil Nadu", 11.41, 76.70),
    ("637001", "Namakkal", "Tamil Nadu", 11.22, 78.17),
    ("642001", "Pollachi", "Tamil Nadu", 10.66, 77.01),
    ("635001", "Krishnagiri", "Tamil Nadu", 12.52, 78.21),
    ("605602", "Viluppuram", "Tamil Nadu", 11.94, 79.49),
    ("605001", "Puducherry", "Puducherry", 11.93, 79.83),
    # Kerala
    ("695001", "Thiruvananthapuram", "Kerala", 8.50, 76.95),
    ("682001", "Kochi (Fort Kochi)", "Kerala", 9.97, 76.24),
    ("682011", "Kochi (Ernakulam)", "Kerala", 9.98, 76.28),
    ("673001", "Kozhikode", "Kerala", 11.25, 75.78),
    ("680001", "Thrissur", "Kerala", 10.52, 76.21),
    ("691001", "Kollam", "Kerala", 8.89, 76.61),
    ("670001", "Kannur", "Kerala", 11.87, 75.37),
    ("688001", "Alappuzha", "Kerala", 9.49, 76.33),
    ("678001", "Palakkad", "Kerala", 10.78, 76.65),
    ("686001", "Kottayam", "Kerala", 9.59, 76.52),
    ("676505", "Malappuram", "Kerala", 11.05, 76.07),
    ("671121", "Kasaragod", "Kerala", 12.50, 74.99),
    ("689645", "Pathanamthitta", "Kerala", 9.26, 76.78),
    # West Bengal
    ("700001", "Kolkata (BBD Bagh)", "West Bengal", 22.57, 88.35),
    ("700019", "Kolkata (Ballygunge)", "West Bengal", 22.53, 88.37),
    ("700091", "Kolkata (Salt Lake)", "West Bengal", 22.58, 88.42),
    ("700156", "Kolkata (New Town)", "West Bengal", 22.58, 88.47),
    ("700124", "Barasat", "West Bengal", 22.72, 88.48),
    ("711101", "Howrah", "West Bengal", 22.59, 88.31),
    ("713201", "Durgapur", "West Bengal", 23.52, 87.31),
    ("713301", "Asansol", "West Bengal", 23.68, 86.98),
    ("734001", "Siliguri", "West Bengal", 26.73, 88.40),
    ("734101", "Darjeeling", "West Bengal", 27.04, 88.26),
    ("721301", "Kharagpur", "West Bengal", 22.35, 87.23),
    ("713101", "Bardhaman", "West Bengal", 23.24, 87.86),
    ("732101", "Malda", "West Bengal", 25.00, 88.14),
    ("721607", "Haldia", "West Bengal", 22.06, 88.07),
    ("741101", "Krishnanagar", "West Bengal", 23.40, 88.50),
    ("742101", "Baharampur", "West Bengal", 24.10, 88.25),
    ("735101", "Jalpaiguri", "West Bengal", 26.52, 88.72),
    ("736101", "Cooch Behar", "West Bengal", 26.32, 89.45),
    ("722101", "Bankura", "West Bengal", 23.23, 87.07),
    # Odisha
    ("751001", "Bhubaneswar", "Odisha", 20.27, 85.84),
    ("753001", "Cuttack", "Odisha", 20.46, 85.88),
    ("769001", "Rourkela", "Odisha", 22.26, 84.85),
    ("760001", "Berhampur", "Odisha", 19.31, 84.79),
    ("768001", "Sambalpur", "Odisha", 21.47, 83.97),
    ("752001", "Puri", "Odisha", 19.81, 85.83),
    ("756001", "Balasore", "Odisha", 21.49, 86.93),
    ("757001", "Baripada", "Odisha", 21.93, 86.73),
    ("768201", "Jharsuguda", "Odisha", 21.86, 84.01),
    ("764020", "Koraput", "Odisha", 18.81, 82.71),
    # Bihar
    ("800001", "Patna", "Bihar", 25.61, 85.14),
    ("823001", "Gaya", "Bihar", 24.79, 85.00),
    ("812001", "Bhagalpur", "Bihar", 25.25, 86.98),
    ("842001", "Muzaffarpur", "Bihar", 26.12, 85.39),
    ("846004", "Darbhanga", "Bihar", 26.15, 85.90),
    ("854301", "Purnia", "Bihar", 25.78, 87.47),
    ("802301", "Arrah", "Bihar", 25.56, 84.66),
    ("851101", "Begusarai", "Bihar", 25.42, 86.13),
    ("854105", "Katihar", "Bihar", 25.53, 87.58),
    ("811201", "Munger", "Bihar", 25.38, 86.47),
    ("841301", "Chapra", "Bihar", 25.78, 84.73),
    ("821115", "Sasaram", "Bihar", 24.95, 84.03),
    ("844101", "Hajipur", "Bihar", 25.69, 85.21),
    ("845401", "Motihari", "Bihar", 26.65, 84.92),
    ("845438", "Bettiah", "Bihar", 26.80, 84.50),
    ("841226", "Siwan", "Bihar", 26.22, 84.36),
    # Jharkhand
    ("834001", "Ranchi", "Jharkhand", 23.34, 85.31),
    ("831001", "Jamshedpur", "Jharkhand", 22.80, 86.18),
    ("826001", "Dhanbad", "Jharkhand", 23.80, 86.43),
    ("827001", "Bokaro Steel City", "Jharkhand", 23.67, 86.15),
    ("825301", "Hazaribagh", "Jharkhand", 23.99, 85.36),
    ("814112", "Deoghar", "Jharkhand", 24.48, 86.70),
    ("815301", "Giridih", "Jharkhand", 24.19, 86.30),
    ("814101", "Dumka", "Jharkhand", 24.27, 87.25),
    # North-East, Sikkim, Andaman
    ("781001", "Guwahati", "Assam", 26.18, 91.75),
    ("786001", "Dibrugarh", "Assam", 27.48, 94.91),
    ("788001", "Silchar", "Assam", 24.83, 92.78),
    ("785001", "Jorhat", "Assam", 26.75, 94.22),
    ("784001", "Tezpur", "Assam", 26.63, 92.80),
    ("782001", "Nagaon", "Assam", 26.35, 92.68),
    ("786125", "Tinsukia", "Assam", 27.49, 95.36),
    ("783380", "Bongaigaon", "Assam", 26.48, 90.56),
    ("793001", "Shillong", "Meghalaya", 25.57, 91.88),
    ("795001", "Imphal", "Manipur", 24.81, 93.94),
    ("799001", "Agartala", "Tripura", 23.83, 91.28),
    ("796001", "Aizawl", "Mizoram", 23.73, 92.72),
    ("797001", "Kohima", "Nagaland", 25.67, 94.11),
    ("797112", "Dimapur", "Nagaland", 25.91, 93.73),
    ("791111", "Itanagar", "Arunachal Pradesh", 27.08, 93.61),
    ("737101", "Gangtok", "Sikkim", 27.33, 88.61),
    ("744101", "Port Blair", "Andaman and Nicobar Islands", 11.62, 92.73),
)

# Metro agglomerations (zone "metro": metro-to-metro lanes are cheaper than rest of India).
METRO_CITIES = ("New Delhi", "Delhi", "Gurugram", "Noida", "Ghaziabad", "Faridabad",
                "Mumbai", "Thane", "Navi Mumbai", "Bengaluru", "Chennai", "Kolkata", "Howrah",
                "Hyderabad", "Secunderabad", "Ahmedabad", "Pune")
REMOTE_STATES = ("Jammu and Kashmir", "Ladakh", "Assam", "Meghalaya", "Manipur", "Tripura",
                 "Mizoram", "Nagaland", "Arunachal Pradesh", "Sikkim",
                 "Andaman and Nicobar Islands")
REMOTE_TOWNS = ("Manali", "Kullu", "Dharamshala", "Nainital", "Darjeeling", "Ooty")
HIGH_RTO_STATES = ("Bihar", "Jharkhand", "Uttar Pradesh", "Odisha", "Chhattisgarh")
STATE_CAPITALS = ("Lucknow", "Jaipur", "Chandigarh", "Bhopal", "Patna", "Ranchi", "Raipur",
                  "Bhubaneswar", "Thiruvananthapuram", "Panaji", "Dehradun", "Shimla",
                  "Gandhinagar", "Guwahati", "Visakhapatnam", "Vijayawada", "Indore",
                  "Coimbatore", "Kochi", "Nagpur", "Surat", "Vadodara", "Ludhiana", "Mysuru")

# Warehouse costs: metro FCs have dearer labour but better courier rates.
WAREHOUSE_COSTS: dict[str, tuple[float, float, int, float]] = {
    # id: (handling ₹/unit, fixed ₹/shipment, daily capacity units, rate multiplier)
    "WH-DEL": (11.0, 28.0, 60_000, 0.95), "WH-BOM": (12.0, 30.0, 60_000, 0.95),
    "WH-BLR": (11.5, 28.0, 50_000, 0.95), "WH-MAA": (10.5, 26.0, 40_000, 0.97),
    "WH-CCU": (9.5, 25.0, 35_000, 1.00), "WH-HYD": (10.0, 26.0, 40_000, 0.97),
    "WH-AMD": (9.0, 24.0, 30_000, 1.00), "WH-PNQ": (10.0, 25.0, 30_000, 0.98),
    "WH-JAI": (8.0, 22.0, 20_000, 1.02), "WH-LKO": (8.0, 22.0, 20_000, 1.03),
    "WH-GAU": (9.0, 24.0, 10_000, 1.08), "WH-NAG": (7.5, 21.0, 25_000, 1.00),
}


def _tag(city: str, state: str) -> str | None:
    if state in REMOTE_STATES or city in REMOTE_TOWNS:
        return "remote"
    if city.split(" (")[0] in METRO_CITIES:
        return "metro"
    return None


def _rto(city: str, state: str, tag: str | None) -> float:
    base = city.split(" (")[0]
    if tag == "metro":
        rate = 0.06
    elif tag == "remote":
        rate = 0.22
    elif base in STATE_CAPITALS:
        rate = 0.10
    else:
        rate = 0.15
    if state in HIGH_RTO_STATES:
        rate += 0.06
    return round(min(rate, 0.30), 3)


def build() -> dict[str, Any]:
    """The demo network as a JSON-ready dict."""
    warehouses = []
    for w in DEMO_WAREHOUSES:
        handling, fixed, capacity, mult = WAREHOUSE_COSTS[w.id]
        warehouses.append({
            "id": w.id, "name": w.name, "city": w.city, "lat": w.lat, "lon": w.lon,
            "handling_per_unit": handling, "fixed_per_shipment": fixed,
            "daily_capacity_units": capacity, "rate_multiplier": mult,
        })
    destinations = []
    for pin, city, state, lat, lon in CITIES:
        tag = _tag(city, state)
        entry: dict[str, Any] = {"pincode": pin, "city": city, "state": state,
                                 "lat": lat, "lon": lon}
        if tag:
            entry["zone"] = tag
        entry["rto_rate"] = _rto(city, state, tag)
        destinations.append(entry)
    return {
        "name": "demo-india-12",
        "currency": "INR",
        "weight_slab_g": 500,
        "zones": [
            {"name": "local", "max_km": 50},
            {"name": "regional", "max_km": 500},
            {"name": "national", "max_km": None},
            {"name": "metro", "destination_tag": "metro", "beyond_km": 500},
            {"name": "remote", "destination_tag": "remote", "beyond_km": 500,
             "extra_transit_days": 2},
        ],
        "rate_card": {
            "local": {"first_500g": 38, "each_additional_500g": 32},
            "regional": {"first_500g": 48, "each_additional_500g": 42},
            "metro": {"first_500g": 58, "each_additional_500g": 50},
            "national": {"first_500g": 72, "each_additional_500g": 64},
            "remote": {"first_500g": 92, "each_additional_500g": 82},
        },
        "transit_days": [
            {"max_km": 50, "days": 1},
            {"max_km": 300, "days": 2},
            {"max_km": 900, "days": 3},
            {"max_km": 1600, "days": 4},
            {"max_km": None, "days": 5},
        ],
        "lateness_penalty_per_day": 60,
        "stock_health": {"threshold_units": 3, "penalty_per_unit": 15},
        "warehouses": warehouses,
        "destinations": destinations,
    }


def main() -> None:
    pins = [c[0] for c in CITIES]
    assert len(pins) == len(set(pins)), "duplicate pincode in CITIES"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(CITIES)} destinations)")


if __name__ == "__main__":
    main()
