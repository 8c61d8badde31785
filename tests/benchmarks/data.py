"""Realistic, reproducible Indian borrower data for the benchmarks (names, phones, PAN, loan numbers)."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

FIRST_NAMES = (
    "Aarav Aditya Ajay Akash Amit Anand Anil Ankit Arjun Arun Ashok Deepak Dinesh Ganesh Gaurav Gopal Harish "
    "Hemant Jagdish Karan Kiran Krishna Kunal Mahesh Manish Manoj Mohan Mukesh Naresh Naveen Nikhil Nitin "
    "Pankaj Pradeep Prakash Pramod Prashant Rahul Rajesh Rakesh Ramesh Ravi Rohit Sachin Sandeep Sanjay "
    "Santosh Satish Shankar Shyam Siddharth Srinivas Subhash Sudhir Sunil Suresh Tarun Uday Umesh Vijay "
    "Vikram Vinod Vivek Yogesh Abhishek Venkatesh Balaji Murugan Senthil Karthik Lakshman Raghav Imran "
    "Salman Farhan Irfan Mohammed Gurpreet Harpreet Manpreet Jaswinder Sukhwinder Debashish Subrata Partha "
    "Aarti Aishwarya Anita Anjali Ankita Anusha Archana Asha Bhavna Deepa Divya Geeta Jyoti Kavita Kavya "
    "Lakshmi Madhuri Manisha Meena Meera Neha Nisha Pooja Preeti Priya Priyanka Radha Rani Rekha Ritu "
    "Sangeeta Sarita Seema Shalini Shilpa Shobha Shruti Sneha Sonia Sunita Swati Usha Vandana Vidya "
    "Yamuna Revathi Padma Kamala Saraswathi Fatima Ayesha Nasreen Simran Harleen Rupinder Moumita Sreeja"
).split()

LAST_NAMES = (
    "Sharma Verma Gupta Singh Kumar Yadav Patel Shah Mehta Joshi Desai Kulkarni Deshpande Patil Pawar "
    "Jadhav Shinde Chavan More Gaikwad Naidu Reddy Rao Raju Varma Nair Menon Pillai Iyer Iyengar Krishnan "
    "Subramanian Venkataraman Ramachandran Natarajan Murthy Hegde Shetty Gowda Bhat Kamath Pai Banerjee "
    "Chatterjee Mukherjee Ghosh Bose Das Dutta Sen Roy Chakraborty Bhattacharya Sarkar Mondal Saha Paul "
    "Mishra Pandey Tiwari Dubey Shukla Tripathi Chaturvedi Srivastava Saxena Agarwal Jain Goyal Bansal "
    "Mittal Arora Kapoor Malhotra Khanna Chopra Bhatia Sethi Gill Sandhu Dhillon Grewal Sidhu Khan Ansari "
    "Qureshi Shaikh Siddiqui Pathan Syed Thomas George Mathew Varghese Fernandes DSouza Pereira Rodrigues "
    "Chauhan Rathore Solanki Parmar Thakur Rajput Negi Rawat Bisht Mahato Oraon Munda Lepcha Bhutia Sangma"
).split()

CITIES = (
    ("Mumbai", "Maharashtra", "400"),
    ("Pune", "Maharashtra", "411"),
    ("Bengaluru", "Karnataka", "560"),
    ("Chennai", "Tamil Nadu", "600"),
    ("Hyderabad", "Telangana", "500"),
    ("Kolkata", "West Bengal", "700"),
    ("New Delhi", "Delhi", "110"),
    ("Jaipur", "Rajasthan", "302"),
    ("Lucknow", "Uttar Pradesh", "226"),
    ("Ahmedabad", "Gujarat", "380"),
    ("Kochi", "Kerala", "682"),
    ("Bhopal", "Madhya Pradesh", "462"),
)


@dataclass(frozen=True)
class Borrower:
    """One generated borrower, already in the forms the domain stores (E.164 phone, upper-case PAN)."""

    name: str
    phone: str
    pan: str
    email: str | None
    loan_numbers: tuple[str, ...]
    alternate_phone: str | None
    city: str
    state: str
    pincode: str


class BorrowerFactory:
    """Generates unique phones, PANs and loan numbers; names repeat as they do in real books."""

    def __init__(self, seed: int = 20240601) -> None:
        self.rng = random.Random(seed)
        self._phones: set[str] = set()
        self._pans: set[str] = set()
        self._loan_serial = self.rng.randrange(10_000_000, 20_000_000)

    def name(self) -> str:
        """A first and last name, sometimes with a middle name or initial."""
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        roll = rng.random()
        if roll < 0.12:
            return f"{first} {rng.choice(FIRST_NAMES)} {last}"
        if roll < 0.2:
            return f"{first} {rng.choice(string.ascii_uppercase)}. {last}"
        return f"{first} {last}"

    def phone(self) -> str:
        """A unique Indian mobile number in E.164 (+91, then 6-9 and nine digits)."""
        while True:
            number = f"+91{self.rng.randrange(6, 10)}{self.rng.randrange(0, 10**9):09d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def pan(self, last_name: str) -> str:
        """A unique PAN of an individual: AAA + P + surname initial + four digits + check letter."""
        rng = self.rng
        while True:
            letters = "".join(rng.choices(string.ascii_uppercase, k=3))
            pan = f"{letters}P{last_name[0].upper()}{rng.randrange(10000):04d}{rng.choice(string.ascii_uppercase)}"
            if pan not in self._pans:
                self._pans.add(pan)
                return pan

    def loan_number(self) -> str:
        """A unique loan account number like CDL0012345678."""
        self._loan_serial += self.rng.randrange(1, 40)
        return f"CDL{self._loan_serial:010d}"

    def borrower(self) -> Borrower:
        """One borrower with one or two loans; some have an email and an alternate phone."""
        rng = self.rng
        name = self.name()
        city, state, prefix = rng.choice(CITIES)
        loans = (self.loan_number(),) if rng.random() < 0.7 else (self.loan_number(), self.loan_number())
        email = f"{name.split()[0].lower()}.{rng.randrange(100, 99999)}@example.in" if rng.random() < 0.6 else None
        return Borrower(
            name=name,
            phone=self.phone(),
            pan=self.pan(name.split()[-1]),
            email=email,
            loan_numbers=loans,
            alternate_phone=self.phone() if rng.random() < 0.1 else None,
            city=city,
            state=state,
            pincode=f"{prefix}{rng.randrange(1, 1000):03d}",
        )

    def borrowers(self, count: int) -> Iterator[Borrower]:
        """`count` borrowers."""
        for _ in range(count):
            yield self.borrower()


def phone_formats(e164: str) -> list[str]:
    """The ways staff type one Indian mobile number: 98765 43210, 098765-43210, +91 9876543210, 919876543210."""
    local = e164[3:]
    return [
        local,
        f"{local[:5]} {local[5:]}",
        f"0{local[:5]}-{local[5:]}",
        f"+91 {local}",
        f"91{local}",
        f"+91-{local[:5]}-{local[5:]}",
    ]
